# wait_timeout is about one connection's life: the client that sets it is closed when idle
# that long, and nobody else is.
import os, time, pymysql

def connect():
    return pymysql.connect(host=os.environ["HOST"], port=int(os.environ["PORT"]), user="app",
                           password="apppw", database="sqlmux_test", autocommit=True)

a = connect()
ac = a.cursor()
ac.execute("SET wait_timeout = 2")
ac.execute("SELECT 1")
print("a", ac.fetchone())
b = connect()
bc = b.cursor()
bc.execute("SELECT 2")
print("b", bc.fetchone())
time.sleep(3.5)
try:
    ac.execute("SELECT 3")
    print("a after idle", ac.fetchone())
except pymysql.err.MySQLError as e:
    print("a after idle: error", e.args[0] in (2006, 2013))
for i in range(5):
    bc.execute("SELECT %s", (10 + i,))
    print("b after idle", bc.fetchone())
c = connect()
cc = c.cursor()
cc.execute("SELECT 4")
print("c", cc.fetchone())
