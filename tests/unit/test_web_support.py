"""The web tests' seeding helpers (tests/support/web_app.py) write the same rows on both engines:
every web test that runs on PostgreSQL starts from them."""
from __future__ import annotations

from ivr.db.store import store_of
from tests.support.web_app import ID4, LOAN, ROLES, add_users, db_of, make_app, seed


def test_add_users_and_seed_on_each_engine(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app)
    ids = seed(app)
    s = store_of(db_of(app))
    try:
        users = s.query("SELECT username, role, agent_ext FROM users ORDER BY username")
        assert [(u["username"], u["role"]) for u in users] == sorted((r, r) for r in ROLES)
        assert [u["agent_ext"] for u in users if u["role"] == "agent"] == ["agent1"]
        assert s.scalar("SELECT loan_id FROM borrowers WHERE id = :id", {"id": ids["borrower_id"]}) == LOAN
        esc = s.get("escalations", ids["escalation_id"])
        assert esc is not None and esc["attempt_id"] == "a-answered"
        answers = s.query("SELECT seq, digits, text FROM answers WHERE attempt_id = 'a-answered' ORDER BY seq")
        assert [(a["seq"], a["digits"]) for a in answers] == [(1, "1"), (2, ID4), (3, None)]
        assert answers[2]["text"].startswith("我要找人工")
        assert s.scalar("SELECT count(*) FROM attempts") == 2
        assert s.scalar("SELECT bytes FROM recordings WHERE attempt_id = 'a-answered'") == 44
    finally:
        s.close()
