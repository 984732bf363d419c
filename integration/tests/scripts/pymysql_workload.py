# Runs the same statements against HOST:PORT and prints every result, so that the output
# through sqlmux can be compared with the output of a direct connection.
import os, pymysql

c = pymysql.connect(host=os.environ["HOST"], port=int(os.environ["PORT"]), user="app",
                    password="apppw", database="sqlmux_test", autocommit=True,
                    client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
cur = c.cursor()
cur.execute("DROP TABLE IF EXISTS py_t")
cur.execute("CREATE TABLE py_t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), n DOUBLE, b BLOB)")
cur.execute("INSERT INTO py_t (name, n, b) VALUES (%s, %s, %s)", ("alpha", 1.5, b"\x00\x01\xfe\xff"))
print("lastrowid", cur.lastrowid, "rowcount", cur.rowcount)
cur.executemany("INSERT INTO py_t (name, n) VALUES (%s, %s)", [("b%d" % i, i * 0.25) for i in range(50)])
print("executemany rowcount", cur.rowcount)
cur.execute("SELECT id, name, n, b FROM py_t ORDER BY id")
for row in cur.fetchall():
    print(row)
cur.execute("SELECT COUNT(*), SUM(n), NULL, 'x' FROM py_t")
print(cur.fetchone(), [d[0] for d in cur.description])
cur.execute("UPDATE py_t SET n = n + 1 WHERE id > 40")
print("updated", cur.rowcount)
try:
    cur.execute("SELECT * FROM no_such_table")
except pymysql.err.ProgrammingError as e:
    print("error", e.args[0])
cur.execute("SELECT 1 AS a; SELECT 2 AS b, 3 AS c; UPDATE py_t SET n = 0 WHERE id = 1")
print(cur.fetchall())
while cur.nextset():
    print(cur.fetchall() if cur.description else ("rowcount", cur.rowcount))
c.begin()
cur.execute("DELETE FROM py_t WHERE id < 5")
c.rollback()
cur.execute("SELECT COUNT(*) FROM py_t")
print("after rollback", cur.fetchone())
cur.execute("SELECT REPEAT('x', 100000) AS big")
print("big", len(cur.fetchone()[0]))
print("ping", c.ping(reconnect=False))
c.select_db("mysql")
cur.execute("SELECT DATABASE()")
print(cur.fetchone())
c.close()
