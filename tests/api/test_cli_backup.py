"""`atrium backup SOURCE COPY`: a consistent copy of a SQLite file through
the backup API, refusing to overwrite, with a progress bar only on a
terminal."""
import os
import pty
import sqlite3
import subprocess

from conftest import BIN


def make(path, rows=20000):
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    c.executemany("INSERT INTO t VALUES (?, ?)", ((i, "x" * 50 + str(i)) for i in range(rows)))
    c.commit()
    return c


def test_copy_is_whole_and_consistent(tmp_path):
    src, dst = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    keep = make(src)
    keep.execute("INSERT INTO t VALUES (-1, 'in the WAL, not yet checkpointed')")
    keep.commit()
    r = subprocess.run([BIN, "backup", src, dst], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "backed up" in r.stdout
    assert r.stderr == ""  # no terminal: no progress bar
    c = sqlite3.connect(dst)
    assert c.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert c.execute("SELECT count(*), sum(id) FROM t").fetchone() == keep.execute("SELECT count(*), sum(id) FROM t").fetchone()
    assert c.execute("SELECT v FROM t WHERE id = -1").fetchone()[0].startswith("in the WAL")


def test_refuses_to_overwrite_or_copy_garbage(tmp_path):
    src, dst = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    make(src, rows=10)
    open(dst, "w").write("mine")
    r = subprocess.run([BIN, "backup", src, dst], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "already exists" in r.stderr
    assert open(dst).read() == "mine"
    junk = str(tmp_path / "junk.db")
    open(junk, "wb").write(b"not a database at all" * 100)
    out = str(tmp_path / "c.db")
    r = subprocess.run([BIN, "backup", junk, out], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "junk.db" in r.stderr
    assert not os.path.exists(out)
    r = subprocess.run([BIN, "backup", str(tmp_path / "missing.db"), out], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and not os.path.exists(out)
    assert subprocess.run([BIN, "backup", src], capture_output=True, timeout=60).returncode == 2


def test_progress_bar_on_a_terminal(tmp_path):
    src, dst = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    make(src)
    master, slave = pty.openpty()
    p = subprocess.Popen([BIN, "backup", src, dst], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert p.wait(timeout=60) == 0
    os.close(master)
    frames = [f for f in seen.decode().replace("\n", "\r").split("\r") if f.strip()]
    assert len(frames) >= 2, seen  # 256 pages a step
    assert frames[-1].startswith("backing up [") and "100%" in frames[-1]
    assert all("pages" in f for f in frames)
