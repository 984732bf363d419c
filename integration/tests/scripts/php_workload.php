<?php
// PDO (emulated and server-side prepares) and mysqli (change_user, stat, multi_query,
// cursors, long data); output compared with a direct connection.
$host = getenv('HOST'); $port = getenv('PORT');
$pdo = new PDO("mysql:host=$host;port=$port;dbname=sqlmux_test", 'app', 'apppw',
    [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$pdo->exec('DROP TABLE IF EXISTS php_t');
$pdo->exec('CREATE TABLE php_t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), v INT, t TEXT)');
foreach ([false, true] as $emulate) {
    $pdo->setAttribute(PDO::ATTR_EMULATE_PREPARES, $emulate);
    $ins = $pdo->prepare('INSERT INTO php_t (name, v) VALUES (?, ?)');
    for ($i = 0; $i < 10; $i++) { $ins->execute(["e$emulate-$i", $i]); }
    echo "lastInsertId ", $pdo->lastInsertId(), "\n";
    $sel = $pdo->prepare('SELECT id, name, v FROM php_t WHERE v >= ? ORDER BY id');
    $sel->execute([7]);
    foreach ($sel->fetchAll(PDO::FETCH_NUM) as $row) { echo implode(',', $row), "\n"; }
}
try { $pdo->query('SELECT nope FROM php_t'); } catch (PDOException $e) { echo "error ", $e->errorInfo[1], "\n"; }
$pdo->beginTransaction();
$pdo->exec("UPDATE php_t SET v = 100");
$pdo->rollBack();
echo "sum ", $pdo->query('SELECT SUM(v) FROM php_t')->fetchColumn(), "\n";

$m = new mysqli($host, 'app', 'apppw', 'sqlmux_test', (int)$port);
echo "stat ", strpos($m->stat(), 'Uptime') !== false ? 'ok' : 'bad', "\n";
echo "ping ", $m->ping() ? 'ok' : 'bad', "\n";
$m->multi_query("SELECT 1; SELECT 'two'; SELECT COUNT(*) FROM php_t");
do { if ($r = $m->store_result()) { echo json_encode($r->fetch_all()), "\n"; $r->free(); } } while ($m->more_results() && $m->next_result());
$st = $m->prepare('INSERT INTO php_t (name, t) VALUES (?, ?)');
$name = 'long'; $null = null;
$st->bind_param('sb', $name, $null);
$st->send_long_data(1, str_repeat('a', 5000));
$st->send_long_data(1, str_repeat('b', 5000));
$st->execute();
echo "long insert_id ", $st->insert_id, "\n";
$st->close();
echo "long len ", $m->query("SELECT LENGTH(t) FROM php_t WHERE name = 'long'")->fetch_row()[0], "\n";
$st = $m->prepare('SELECT id, name FROM php_t ORDER BY id LIMIT 5');
$st->attr_set(MYSQLI_STMT_ATTR_CURSOR_TYPE, MYSQLI_CURSOR_TYPE_READ_ONLY);
$st->execute();
$st->bind_result($id, $nm);
while ($st->fetch()) { echo "cursor $id $nm\n"; }
$st->reset();
$st->close();
echo "change_user ", $m->change_user('app', 'apppw', 'mysql') ? 'ok' : 'bad', "\n";
echo "db ", $m->query('SELECT DATABASE()')->fetch_row()[0], "\n";
$m->close();
