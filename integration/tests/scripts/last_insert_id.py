# The same script on a direct connection and through sqlmux; every result is printed so the
# two outputs can be compared. Other sessions insert through the same port meanwhile (NOISE).
import os, threading, pymysql

HOST, PORT, SUFFIX = os.environ["HOST"], int(os.environ["PORT"]), os.environ["SUFFIX"]

def connect():
    return pymysql.connect(host=HOST, port=PORT, user="app", password="apppw",
                           database="sqlmux_test", autocommit=True)

stop = threading.Event()
def noise():
    c = connect()
    cur = c.cursor()
    while not stop.is_set():
        cur.execute("INSERT INTO noise (v) VALUES ('n')")
        inserted = cur.lastrowid
        cur.execute("SELECT LAST_INSERT_ID()")
        got = cur.fetchone()[0]
        if got != inserted:
            print("NOISE MISMATCH", inserted, got)
    c.close()

c = connect()
cur = c.cursor()
P, C = "parent_" + SUFFIX, "child_" + SUFFIX
cur.execute(f"DROP TABLE IF EXISTS {C}, {P}")
cur.execute(f"CREATE TABLE {P} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE)")
cur.execute(f"CREATE TABLE {C} (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT)")
threads = [threading.Thread(target=noise) for _ in range(int(os.environ.get("NOISE", "0")))]
for t in threads:
    t.start()

script = f"""
SELECT LAST_INSERT_ID()
INSERT INTO {P} (v) VALUES ('a')
SELECT LAST_INSERT_ID()
select last_insert_id() as id;
/* comment */ SELECT  Last_Insert_Id( )  AS `the id` -- trailing
SELECT @@identity
SELECT @@last_insert_id
SELECT ROW_COUNT()
INSERT INTO {C} (parent_id) VALUES (LAST_INSERT_ID())
SELECT parent_id FROM {C}
SELECT LAST_INSERT_ID()
INSERT INTO {P} (id, v) VALUES (100, 'explicit')
SELECT LAST_INSERT_ID()
SELECT ROW_COUNT()
INSERT INTO {P} (v) VALUES ('b'), ('c'), ('d')
SELECT LAST_INSERT_ID(), ROW_COUNT()
SELECT ROW_COUNT()
INSERT INTO {P} (v) VALUES ('b') ON DUPLICATE KEY UPDATE v = 'b2'
SELECT LAST_INSERT_ID()
SELECT ROW_COUNT()
INSERT INTO {P} (v) VALUES ('new') ON DUPLICATE KEY UPDATE v = 'x'
SELECT LAST_INSERT_ID()
INSERT IGNORE INTO {P} (v) VALUES ('c')
SELECT LAST_INSERT_ID()
SELECT ROW_COUNT()
INSERT INTO {P} (v) SELECT v FROM {P} WHERE 1 = 0
SELECT LAST_INSERT_ID()
UPDATE {P} SET v = 'zz' WHERE id = 1
SELECT ROW_COUNT()
UPDATE {P} SET v = 'zz' WHERE id = 1
SELECT ROW_COUNT()
SELECT LAST_INSERT_ID(777)
SELECT LAST_INSERT_ID()
UPDATE {P} SET id = LAST_INSERT_ID(id + 1000) WHERE id = 100
SELECT LAST_INSERT_ID()
SELECT * FROM {P} ORDER BY id
DELETE FROM {C}
SELECT ROW_COUNT()
BEGIN
INSERT INTO {P} (v) VALUES ('in-trx')
SELECT LAST_INSERT_ID()
COMMIT
SELECT LAST_INSERT_ID()
REPLACE INTO {P} (id, v) VALUES (5000, 'replaced')
SELECT LAST_INSERT_ID()
INSERT INTO {P} (v) VALUES ('after-explicit')
SELECT LAST_INSERT_ID()
SELECT * FROM no_such_table
SELECT ROW_COUNT()
SELECT LAST_INSERT_ID()
"""
for sql in script.strip().splitlines():
    try:
        cur.execute(sql)
        rows = cur.fetchall() if cur.description else None
        names = [d[0] for d in cur.description] if cur.description else None
        print(sql.replace(SUFFIX, "X"), "->", rows, names, "rowcount", cur.rowcount, "lastrowid", cur.lastrowid)
    except pymysql.err.MySQLError as e:
        print(sql.replace(SUFFIX, "X"), "-> error", e.args[0])
stop.set()
for t in threads:
    t.join()
