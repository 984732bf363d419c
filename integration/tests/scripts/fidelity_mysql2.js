// node-mysql2 adapts to the server it sees: MariaDB gets array parameters as JSON text, and
// JSON columns are recognised from MariaDB's extended metadata. Prints what it got.
const path = require('path');
const mysql = require(path.join(process.env.NODE_CLIENTS, 'node_modules', 'mysql2/promise'));

(async () => {
  const c = await mysql.createConnection({
    host: process.env.HOST, port: Number(process.env.PORT),
    user: 'app', password: 'apppw', database: 'sqlmux_test',
  });
  console.log('server version', c.connection._handshakePacket.serverVersion);
  console.log('mariadb', c.connection._isMariaDB === true);
  const [arr] = await c.execute('SELECT ? AS a', [[1, 2, 3]]);
  console.log('array parameter', JSON.stringify(arr));
  await c.query('DROP TABLE IF EXISTS js_t');
  await c.query('CREATE TABLE js_t (id INT PRIMARY KEY, doc JSON)');
  await c.execute('INSERT INTO js_t VALUES (?, ?)', [1, JSON.stringify({ k: [1, 'two'] })]);
  const [text] = await c.query('SELECT id, doc FROM js_t');
  console.log('json, text protocol', typeof text[0].doc, JSON.stringify(text[0].doc));
  const [bin] = await c.execute('SELECT id, doc FROM js_t WHERE id = ?', [1]);
  console.log('json, binary protocol', typeof bin[0].doc, JSON.stringify(bin[0].doc));
  const [[id]] = await c.query('SELECT LAST_INSERT_ID() AS lid, CONNECTION_ID() = ? AS same', [c.connection.threadId]);
  console.log('local answers', JSON.stringify(id));
  await c.end();
})().catch((e) => { console.log('error', e.code, e.errno, e.message); process.exit(1); });
