# MySQLdb (mysqlclient, libmariadb) version of the workload; output compared with direct.
import os, MySQLdb

c = MySQLdb.connect(host=os.environ["HOST"], port=int(os.environ["PORT"]), user="app",
                    passwd="apppw", db="sqlmux_test")
c.autocommit(True)
cur = c.cursor()
cur.execute("DROP TABLE IF EXISTS mdb_t")
cur.execute("CREATE TABLE mdb_t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), d DATETIME)")
cur.execute("INSERT INTO mdb_t (name, d) VALUES (%s, %s)", ("one", "2024-01-02 03:04:05"))
print("insert_id", c.insert_id())
cur.executemany("INSERT INTO mdb_t (name) VALUES (%s)", [("n%d" % i,) for i in range(20)])
cur.execute("SELECT * FROM mdb_t ORDER BY id")
for row in cur.fetchall():
    print(row)
print("stat ok", "Uptime" in c.stat())
c.ping()
cur.execute("SHOW COLUMNS FROM mdb_t")
print(cur.fetchall())
try:
    cur.execute("INSERT INTO mdb_t (id, name) VALUES (1, 'dup')")
except MySQLdb.IntegrityError as e:
    print("error", e.args[0])
c.select_db("mysql")
cur.execute("SELECT DATABASE()")
print(cur.fetchone())
c.close()
