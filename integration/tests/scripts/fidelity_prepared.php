<?php
// Prepare, execute and close in a loop, past the server's max_prepared_stmt_count.
mysqli_report(MYSQLI_REPORT_OFF);
$db = new mysqli(getenv("HOST"), "app", "apppw", "sqlmux_test", (int)getenv("PORT"));
$ok = 0;
for ($i = 0; $i < 40; $i++) {
    $st = $db->prepare("SELECT ? + $i AS n");
    if (!$st) { echo "prepare $i failed: ", $db->errno, "\n"; continue; }
    $x = 1;
    $st->bind_param("i", $x);
    $st->execute();
    $st->bind_result($n);
    $st->fetch();
    if ($n == 1 + $i) { $ok++; } else { echo "wrong $i: $n\n"; }
    $st->close();
}
echo "ok $ok\n";
