# A client's handshake character set is the session's: each connection names its charset
# in the handshake only (no SET NAMES), writes and reads text, and prints what it saw.
import os, pymysql

def connect(charset):
    return pymysql.connect(host=os.environ["HOST"], port=int(os.environ["PORT"]), user="app",
                           password="apppw", database="sqlmux_test", autocommit=True,
                           charset=charset)

c = connect("utf8mb4")
c.cursor().execute("DROP TABLE IF EXISTS cs_t")
c.cursor().execute("CREATE TABLE cs_t (id INT AUTO_INCREMENT PRIMARY KEY, cs VARCHAR(20), v VARCHAR(40)) CHARACTER SET utf8mb4")
c.close()

for charset, text in [("cp1251", "Привет, мир"), ("koi8r", "Добрый день"), ("latin1", "Grüße"),
                      ("utf8mb3", "snow ☃"), ("utf8mb3", "pile 💩"), ("utf8mb4", "pile 💩")]:
    c = connect(charset)
    cur = c.cursor()
    cur.execute("SELECT @@character_set_client, @@character_set_connection, @@character_set_results")
    print(charset, "session", cur.fetchone())
    try:
        cur.execute("INSERT INTO cs_t (cs, v) VALUES (%s, %s)", (charset, text))
        cur.execute("SELECT v, HEX(v) FROM cs_t WHERE id = LAST_INSERT_ID()")
        print(charset, "roundtrip", cur.fetchone())
    except pymysql.err.MySQLError as e:
        print(charset, "error", e.args[0])
    # Several statements on a pooled connection, alternating with another charset's client.
    other = connect("utf8mb4")
    oc = other.cursor()
    oc.execute("SELECT @@character_set_client")
    print(charset, "other", oc.fetchone())
    cur.execute("SELECT @@character_set_client")
    print(charset, "again", cur.fetchone())
    other.close()
    c.close()

c = connect("utf8mb4")
cur = c.cursor()
cur.execute("SELECT cs, v, HEX(v) FROM cs_t ORDER BY id")
for row in cur.fetchall():
    print("stored", row)
