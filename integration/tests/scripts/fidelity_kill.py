# CONNECTION_ID() is the id of the handshake, and KILL [QUERY] acts on the connection it names.
import os, threading, time, pymysql

def connect():
    return pymysql.connect(host=os.environ["HOST"], port=int(os.environ["PORT"]), user="app",
                           password="apppw", database="sqlmux_test", autocommit=True)

def err(f):
    try:
        f()
        return "ok"
    except pymysql.err.MySQLError as e:
        return e.args[0]

a = connect()
ac = a.cursor()
ac.execute("SELECT CONNECTION_ID()")
print("connection_id is the handshake id", ac.fetchone()[0] == a.thread_id())
ac.execute("SELECT CONNECTION_ID() + 0 AS x, 'y'")
print("in an expression", ac.fetchone()[0] == a.thread_id())
ac.execute("DROP TABLE IF EXISTS kill_t")
ac.execute("CREATE TABLE kill_t (id INT)")
ac.execute("INSERT INTO kill_t VALUES (CONNECTION_ID())")
ac.execute("SELECT id FROM kill_t")
print("written", ac.fetchone()[0] == a.thread_id())

b = connect()
result = {}
def long_statement():
    started = time.time()
    bc = b.cursor()
    try:
        bc.execute("SELECT SLEEP(20)")
        result["b"] = ("rows", bc.fetchall())
    except pymysql.err.MySQLError as e:
        result["b"] = ("error", e.args[0])
    result["b_seconds"] = time.time() - started
t = threading.Thread(target=long_statement)
t.start()
time.sleep(1)
print("kill query", err(lambda: ac.execute("KILL QUERY %d" % b.thread_id())))
t.join()
print("b's statement", result["b"], "stopped early", result["b_seconds"] < 10)
bc = b.cursor()
bc.execute("SELECT 'b still here'")
print(bc.fetchone())

c = connect()
print("kill connection", err(lambda: ac.execute("KILL CONNECTION %d" % c.thread_id())))
time.sleep(0.5)
print("c after kill", err(lambda: c.cursor().execute("SELECT 1")) in (2006, 2013))
print("unknown id", err(lambda: ac.execute("KILL 4000000")))
print("kill own query", err(lambda: ac.execute("KILL QUERY %d" % a.thread_id())))
print("kill self", err(lambda: ac.execute("KILL %d" % a.thread_id())))
print("a after self kill", err(lambda: ac.execute("SELECT 1")) in (2006, 2013))
