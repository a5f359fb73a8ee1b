"""What must survive a restart, and how the admin password is born."""
import re
import signal
import threading

from conftest import ADMIN_PW


def test_users_databases_tokens_survive_restart(fresh):
    s = fresh()
    admin = s.signin()
    assert s.req("POST", "/v1/users/carol", token=admin, json={"password": "pw"}).status_code == 200
    carol = s.signin("carol", "pw")
    assert s.req("POST", "/v1/databases/keepme", token=carol).status_code == 200
    s.restart()
    assert s.req("GET", "/v1/users/carol", token=carol).json() == {"username": "carol"}
    assert s.req("GET", "/v1/databases/keepme", token=admin).json() == {"name": "keepme"}
    assert s.signin("carol", "pw")
    names = [d["name"] for d in s.req("GET", "/v1/databases", token=carol).json()["databases"]]
    assert names == ["keepme"]


def test_generated_admin_password_is_printed_once(fresh):
    s = fresh(admin_password=None)
    m = re.search(r"admin password \(generated, shown only this once\): (\S+)", s.stdout)
    assert m, s.stdout
    pw = m.group(1)
    assert len(pw) >= 16
    tok = s.signin("admin", pw)
    s.restart()
    assert "admin password" not in s.stdout
    assert pw not in s.log()
    assert s.req("GET", "/v1/users", token=tok).status_code == 200
    s.signin("admin", pw)


def test_admin_password_only_initialises(fresh):
    s = fresh()
    s.stop()
    s.env["ATRIUM_ADMIN_PASSWORD"] = "a-different-one"
    s.start()
    assert "does not match" in s.log()
    s.signin("admin", ADMIN_PW)  # unchanged


def test_sigterm_finishes_in_flight_request(fresh):
    s = fresh()
    result = {}

    def slow_signin():  # Argon2id makes sign-in take tens of milliseconds
        result["r"] = s.req("POST", "/v1/signin", json={"username": "admin", "password": ADMIN_PW})

    t = threading.Thread(target=slow_signin)
    t.start()
    import time
    time.sleep(0.02)
    rc = s.stop(signal.SIGTERM)
    t.join()
    assert rc == 0
    assert result["r"].status_code == 200


def test_served_file_name_sanitised_and_stable(fresh, tmp_path):
    import sqlite3
    p = tmp_path / "2024 sales.db"
    sqlite3.connect(p).close()
    s = fresh(str(p))
    assert "as 'db_2024_sales'" in s.stdout
    tok = s.signin()
    assert s.req("GET", "/v1/databases/db_2024_sales", token=tok).status_code == 200
    s.restart()
    assert "as 'db_2024_sales'" in s.stdout
    names = [d["name"] for d in s.req("GET", "/v1/databases", token=tok).json()["databases"]]
    assert names.count("db_2024_sales") == 1
    # Deleting a served file unregisters it but leaves the file alone.
    assert s.req("DELETE", "/v1/databases/db_2024_sales", token=tok).status_code == 200
    assert p.exists()
