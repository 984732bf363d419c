# A client with CLIENT_SESSION_TRACK gets exactly the session state its server would send:
# prints the status flags and the raw bytes after the warnings of every OK packet.
import os, re, pymysql
from pymysql.constants import CLIENT

c = pymysql.connect(host=os.environ["HOST"], port=int(os.environ["PORT"]), user="app",
                    password="apppw", database="sqlmux_test", autocommit=True,
                    client_flag=CLIENT.SESSION_TRACK)
cur = c.cursor()

def run(sql):
    cur.execute(sql)
    r = c._result
    state = r.message
    if b"last_gtid" in state:
        # The GTID's number differs between runs: only its presence is compared.
        state = b"with last_gtid"
    print(repr(sql), "status", r.server_status, "state", state)

run("DROP TABLE IF EXISTS tr_t")
run("CREATE TABLE tr_t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
run("INSERT INTO tr_t (v) VALUES (1)")
run("SET @a = 1")
run("SET time_zone = '+01:00'")
run("SET sql_mode = 'ANSI_QUOTES'")
run("USE mysql")
run("USE sqlmux_test")
run("SET session_track_system_variables = 'sql_mode,last_gtid'")
run("SET sql_mode = ''")
run("SET time_zone = '+02:00'")
run("INSERT INTO tr_t (v) VALUES (2)")
run("SET session_track_state_change = 1")
run("SET @b = 2")
run("SET session_track_schema = 0")
run("USE mysql")
run("SET session_track_system_variables = DEFAULT, session_track_schema = DEFAULT, session_track_state_change = DEFAULT")
run("SET time_zone = '+03:00'")
run("INSERT INTO sqlmux_test.tr_t (v) VALUES (3)")
