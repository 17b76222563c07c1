"""The runs query (backend.runs.query): its grammar against a table of cases, then compiled and run
on SQLite and on PostgreSQL against a small seeded set of runs (exactly which runs match), injection
attempts, and the refusals naming the token, its position and what was expected."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.runs import query as q
from backend.runs.query import AllOf, Not, QueryError, Term, parse

# --- the grammar, without a database ---------------------------------------------------------------


def shape(node) -> object:
    """A tree in a compact form: terms as 'field op value' or '"text"'."""
    if node is None:
        return None
    if isinstance(node, Term):
        t = node.token
        return f"{t.field}{t.op}{t.value}" if t.kind == "TERM" else f'"{t.value}"'
    if isinstance(node, Not):
        return ("not", shape(node.node))
    return ("and" if isinstance(node, AllOf) else "or", *[shape(n) for n in node.nodes])


PARSES = [
    ("", None),
    ("   ", None),
    ("alpha", '"alpha"'),
    ("alpha beta", ("and", '"alpha"', '"beta"')),
    ('"alpha beta"', '"alpha beta"'),
    ("lr>0.1", "lr>0.1"),
    ("lr > 0.1", "lr>0.1"),
    ("test_acc>=85%", "test_acc>=85%"),
    ("params<200k owner:ada", ("and", "params<200k", "owner:ada")),
    ('name:"a b" tag:x', ("and", "name:a b", "tag:x")),
    (r'name:"say \"hi\""', 'name:say "hi"'),
    ("a OR b c", ("or", '"a"', ("and", '"b"', '"c"'))),
    ("a or b", ("or", '"a"', '"b"')),
    ("a AND b", ("and", '"a"', '"b"')),
    ("(a OR b) c", ("and", ("or", '"a"', '"b"'), '"c"')),
    ("-tag:x", ("not", "tag:x")),
    ("not tag:x", ("not", "tag:x")),
    ("NOT (a OR b)", ("not", ("or", '"a"', '"b"'))),
    ("-(-a)", ("not", ("not", '"a"'))),
    ("- -a", ("and", '"-"', ("not", '"a"'))),  # a lone '-' is a word
    ("--a", '"--a"'),
    ("lr>-1", "lr>-1"),
    ("architecture.stages:8,8/16,16", "architecture.stages:8,8/16,16"),
    ("x-y", '"x-y"'),
    ("☃ ünï", ("and", '"☃"', '"ünï"')),
]


@pytest.mark.parametrize(("text", "expected"), PARSES, ids=[p[0] or "empty" for p in PARSES])
def test_the_grammar_parses(text: str, expected: object) -> None:
    assert shape(parse(text)) == expected


# (query, the offending token, its position, a word of what was expected)
REFUSALS = [
    ("lr>", "lr>", 0, "a value after"),
    ("tag:x lr>abc", "abc", 9, "a number"),
    ("foo:1", "foo", 0, "a run field"),
    ("lerning_rate>0.1", "lerning_rate", 0, "a run field"),
    ("(alpha", "(", 0, "')'"),
    ("alpha)", ")", 5, "a term, OR"),
    ("()", ")", 1, "a term inside"),
    ("a OR", "end of the query", 4, "a term after OR"),
    ("OR a", "OR", 0, "a term"),
    ("a AND OR b", "OR", 6, "a term after AND"),
    ("not", "end of the query", 3, "a term to negate"),
    ('name:"open', '"open', 5, 'a closing "'),
    ("status:sleeping", "sleeping", 7, "one of queued"),
    ("name>3", ">", 4, "':'"),
    ("tag>x", ">", 3, "':'"),
    ("alpha name  >= 3", ">=", 12, "':'"),
    ("lr:1%x", "1%x", 3, "a number"),
    ("test_acc>85", "85", 9, "a percent such as 85%"),
    ("params<1.5", "1.5", 7, "an integer"),
    ("params<5%", "5%", 7, "an integer"),
    ("lr>1e400", "1e400", 3, "within"),
    ("created>yesterday", "yesterday", 8, "YYYY-MM-DD"),
    ("augment.flip:maybe", "maybe", 13, "true or false"),
    ("optimizer:rmsprop", "rmsprop", 10, "sgd, adam, adamw, muon"),
    ("architecture.stages:x/y", "x/y", 20, "8,8/16,16"),
    ("architecture.stages:99999999999999999999", "99999999999999999999", 20, "8,8/16,16"),
    ("best_test_acc>0.5", "best_test_acc", 0, "test_acc"),
    ("sweep:abc", "abc", 6, "an integer"),
    ("tag:\"a b\"", "a b", 4, "characters of"),
    ("lr>0;DROP TABLE runs", "0;DROP", 3, "a number"),
    ("(" * 11 + "a" + ")" * 11, "(", 10, "nested"),
    ("not " * 11 + "a", "not", 40, "nested"),
    (" ".join(["a"] * 51), "a", 100, "at most 50 terms"),
    ("x" * 1001, "x", 1000, "at most 1000 characters"),
    ("a\x00b", "\\x00", 1, "without NUL"),
]


@pytest.mark.parametrize(("text", "token", "position", "expected"), REFUSALS, ids=[r[0][:30] for r in REFUSALS])
def test_a_query_that_cannot_be_asked_names_the_token_its_position_and_what_was_expected(
        text: str, token: str, position: int, expected: str) -> None:
    with pytest.raises(QueryError) as caught:
        q.condition(text)
    err = caught.value
    assert (err.token, err.position) == (token, position), err.message
    assert expected in err.expected and err.status == 422
    detail = err.detail()[0]
    assert detail["field"] == "q" and detail["position"] == position and f"position {position}" in detail["message"]


def test_every_declared_option_is_a_field_and_a_column() -> None:
    from backend.training.options import all_options

    for opt in all_options():
        assert opt.name in q.fields(), opt.name
        assert opt.name in q.column_fields(), opt.name
    assert q.check_columns(["lr", "test_acc", "lr"]) == ["lr", "test_acc"]  # alias, duplicates dropped


# --- compiled and run on both databases --------------------------------------------------------------

@dataclass
class Seeded:
    sessions: sessionmaker[Session]
    ids: dict[str, int]  # run name key → id
    viewer: int  # ada's user id: whose stars starred: reads
    refs: dict[str, int]  # the sweep, search, study and group ids


ARCH = {"family": "compact", "stages": [[8], [16]], "num_classes": 10, "name": "tiny"}
PLAIN = {"family": "plain", "stages": [[8], [16]], "hidden": [32], "num_classes": 10, "name": "small-plain"}
WIDE = {"family": "compact", "stages": [[32, 32], [64, 64]], "num_classes": 10, "name": "wider"}


def seed(url: str) -> Seeded:
    from backend.cli.migrate import upgrade
    from backend.core.statuses import RunStatus
    from backend.core.tables import (
        Run,
        RunGroup,
        RunStar,
        RunTag,
        Search,
        Study,
        StudyLaunch,
        StudyLaunchRun,
        Sweep,
        User,
    )
    from backend.runs.service import new_run
    from backend.training.config import TrainConfig

    upgrade(url)
    engine = create_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as s:
        users = {n: User(username=n, display_name=n.title(), role="member") for n in ("ada", "bob", "carol")}
        s.add_all(users.values())
        s.flush()
        sweep = Sweep(name="lr grid", owner_id=users["bob"].id, base_config={}, grid={"lr": [0.2]})
        search = Search(name="tuning", owner_id=users["ada"].id, spec={}, optuna_name=f"q-{url[-12:]}")
        study = Study(name="seed study", owner_id=users["bob"].id, entries=[], claims=[])
        group = RunGroup(name="repeats", owner_id=users["carol"].id, seeds=[0])
        s.add_all([sweep, search, study, group])
        s.flush()

        def run(key: str, owner: str, status: str, arch: dict, test: float | None, tags: list[str] = (),
                **config) -> int:
            made = new_run(s, TrainConfig.model_validate({"architecture": arch, "epochs": 3, **config}), key,
                           users[owner])
            made.status = status
            made.test_acc_at_best_val, made.best_val_acc = test, (test - 0.01 if test is not None else None)
            made.best_test_acc = (test + 0.05) if test is not None else None
            s.flush()
            s.add_all([RunTag(run_id=made.id, tag=t) for t in tags])
            return made.id

        ids = {
            "alpha": run("alpha base", "ada", RunStatus.SUCCEEDED, ARCH, 0.86, ["baseline"], lr=0.05,
                         batch_size=16),
            "beta": run("beta cutout", "bob", RunStatus.SUCCEEDED, ARCH, 0.80, ["aug", "baseline"], lr=0.2,
                        optimizer="adam", augment={"cutout": 8, "flip": True}),
            "gamma": run("gamma wide", "ada", RunStatus.FAILED, WIDE, None, lr=0.4),
            "delta": run("delta 50%_x", "bob", RunStatus.QUEUED, PLAIN, None, ["todo"], lr=0.2, ema_epochs=2.0),
            "eps": run("ünïcode run ☃", "carol", RunStatus.SUCCEEDED, ARCH, 0.5, lr=0.1, seed=7),
        }
        s.flush()
        runs = {k: s.get_one(Run, v) for k, v in ids.items()}
        runs["beta"].sweep_id, runs["gamma"].search_id, runs["eps"].group_id = sweep.id, search.id, group.id
        launch = StudyLaunch(study_id=study.id, owner_id=users["bob"].id, entries=[], claims=[])
        s.add(launch)
        s.flush()
        s.add(StudyLaunchRun(launch_id=launch.id, entry_key="d", repeat=0, run_id=ids["delta"]))
        s.add(RunStar(user_id=users["ada"].id, run_id=ids["alpha"]))
        s.add(RunStar(user_id=users["bob"].id, run_id=ids["beta"]))  # bob's star: not ada's
        s.commit()
        return Seeded(sessions, ids, users["ada"].id,
                      {"sweep": sweep.id, "search": search.id, "study": study.id, "group": group.id})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request) -> Iterator[Seeded]:
    if request.param == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="cnnlab-query-"))
        yield seed(f"sqlite:///{folder / 'q.db'}")
    else:
        from tests.utils.services import postgres_database

        with postgres_database() as url:
            seeded = seed(url)
            yield seeded
            seeded.sessions.kw["bind"].dispose()


EVERY = {"alpha", "beta", "gamma", "delta", "eps"}
MATCHES = [
    ("", EVERY),
    ("alpha", {"alpha"}),
    ("ALPHA", {"alpha"}),
    ("ada", {"alpha", "gamma"}),  # the owner's name
    ("wider", {"gamma"}),  # the architecture's name
    ("run", {"eps"}),
    ("beta cutout", {"beta"}),
    ('"beta cutout"', {"beta"}),
    ("tag:baseline", {"alpha", "beta"}),
    ("tag:BaseLine", {"alpha", "beta"}),
    ("-tag:baseline", {"gamma", "delta", "eps"}),
    ("tag:baseline -tag:aug", {"alpha"}),
    ("tag:nothing", set()),
    ("status:succeeded", {"alpha", "beta", "eps"}),
    ("status:queued,failed", {"gamma", "delta"}),
    ("status!=succeeded", {"gamma", "delta"}),
    ("owner:ada", {"alpha", "gamma"}),
    ("owner:ADA", {"alpha", "gamma"}),
    ("name:cutout", {"beta"}),
    ("name=cutout", set()),
    ('name="beta cutout"', {"beta"}),
    ("architecture:wid", {"gamma"}),
    ("architecture=tiny", {"alpha", "beta", "eps"}),
    ("lr>0.1", {"beta", "gamma", "delta"}),
    ("lr>=0.1", {"beta", "gamma", "delta", "eps"}),
    ("lr:0.05", {"alpha"}),
    ("lr<=5e-2", {"alpha"}),
    ("lr!=0.2", {"alpha", "gamma", "eps"}),
    ("batch_size:16", {"alpha"}),
    ("batch_size<0.1k", {"alpha"}),
    ("warmup_fraction:20%", EVERY),  # the default 0.2, written as a percent
    ("batch_size>=256", {"beta", "gamma", "delta", "eps"}),  # the default
    ("optimizer:adam", {"beta"}),
    ("optimizer:sgd,adamw", {"alpha", "gamma", "delta", "eps"}),
    ("augment.cutout>=8", {"beta"}),
    ("augment.flip:true", {"beta"}),
    ("augment.flip:no", {"alpha", "gamma", "delta", "eps"}),
    ("ema_epochs>1", {"delta"}),
    ("-ema_epochs>1", {"alpha", "beta", "gamma", "eps"}),  # a negation includes runs without the option
    ("architecture.family:plain", {"delta"}),
    ("architecture.family:compact", {"alpha", "beta", "gamma", "eps"}),
    ("architecture.stages:32,32/64,64", {"gamma"}),
    ("architecture.stages:8/16", {"alpha", "beta", "delta", "eps"}),
    ("architecture.stages:8", set()),  # one stage is not two
    ("architecture.stages:8/16/32", set()),
    ("architecture.stages!=8/16", {"gamma"}),
    ("architecture.hidden:32", {"delta"}),
    ("data.source:cifar", EVERY),
    ("seed:7", {"eps"}),
    ("epochs:3", EVERY),
    ("test_acc>=85%", {"alpha"}),
    ("test_acc>=0.8", {"alpha", "beta"}),
    ("test_acc_at_best_val>=0.8", {"alpha", "beta"}),
    ("-test_acc>=0.8", {"gamma", "delta", "eps"}),  # no accuracy yet: not matching
    ("val_acc>0.84", {"alpha"}),
    ("params<1M", EVERY),
    ("params>100k", set()),
    ("starred:true", {"alpha"}),  # ada's stars only
    ("starred:false", {"beta", "gamma", "delta", "eps"}),
    ("sweep:any", {"beta"}),
    ("sweep:none", {"alpha", "gamma", "delta", "eps"}),
    ("search:any", {"gamma"}),
    ("study:any", {"delta"}),
    ("study:none", {"alpha", "beta", "gamma", "eps"}),
    ("group:any", {"eps"}),
    ("created>2000-01-01", EVERY),
    ("created<2000-01-01T10:00", set()),
    ("alpha OR beta", {"alpha", "beta"}),
    ("(alpha OR beta) tag:aug", {"beta"}),
    ("alpha OR beta tag:aug", {"alpha", "beta"}),
    ("not alpha", {"beta", "gamma", "delta", "eps"}),
    ("NOT (alpha OR beta)", {"gamma", "delta", "eps"}),
    ("-(-alpha)", {"alpha"}),
    ("tag:baseline status:succeeded architecture.family:compact lr>0.01 test_acc>=0.8 params<200k owner:ada",
     {"alpha"}),
    # text is matched as it is: % and _ are no wildcards
    ("50%", {"delta"}),
    ("%", {"delta"}),
    ("_x", {"delta"}),
    ("☃", {"eps"}),
    ("ünïcode", {"eps"}),
    # injection attempts match literally (nothing, here) or are refused; never SQL
    ('name:"x\' OR 1=1 --"', set()),
    ("\"'; DROP TABLE runs; --\"", set()),
    ("' OR '1'='1", set()),
    ("owner:\"ada' --\"", set()),
    ("tag:x'--", None),  # not a tag: refused
    ("lr>0;DROP TABLE runs", None),
    ("lr>0) OR (1=1", None),
]


def matching(db: Seeded, text: str) -> set[str]:
    from backend.runs.service import filtered_runs

    names = {v: k for k, v in db.ids.items()}
    with db.sessions() as s:
        rows = s.scalars(filtered_runs(None, None, None, text, viewer_id=db.viewer)).all()
        return {names[r.id] for r in rows}


@pytest.mark.parametrize(("text", "expected"), MATCHES, ids=[m[0][:40] or "empty" for m in MATCHES])
def test_the_query_matches_exactly_these_runs_on_both_databases(db: Seeded, text: str, expected) -> None:
    if expected is None:
        with pytest.raises(QueryError):
            matching(db, text)
    else:
        assert matching(db, text) == expected
    from backend.core.tables import Run

    with db.sessions() as s:  # and the table is still there, whole
        assert s.scalar(select(func.count()).select_from(Run)) == len(db.ids)


def test_origins_by_id_and_the_day_a_run_was_made(db: Seeded) -> None:
    refs = db.refs
    assert matching(db, f"sweep:{refs['sweep']}") == {"beta"}
    assert matching(db, f"search:{refs['search']}") == {"gamma"}
    assert matching(db, f"study:{refs['study']}") == {"delta"}
    assert matching(db, f"-study:{refs['study']}") == EVERY - {"delta"}
    assert matching(db, f"group:{refs['group']}") == {"eps"}
    assert matching(db, f"sweep:{refs['sweep'] + 1000}") == set()
    today = datetime.now(UTC).date().isoformat()
    assert matching(db, f"created:{today}") == EVERY
    assert matching(db, f"created>{today}") == set()
    assert matching(db, f"created<={today}") == EVERY


INT_COLUMNS = ("id", "params", "seed", "epochs", "epochs_done", "best_epoch", "holdout", "sweep", "search", "group",
               "study")


@pytest.mark.parametrize("field", INT_COLUMNS)
def test_a_number_past_a_32_bit_column_is_refused_naming_the_token_on_both_databases(db: Seeded, field: str) -> None:
    # PostgreSQL's "integer" holds ±2,147,483,647: 3e9 passed the ±1e15 bound and failed in the database
    for text in (f"{field}:3e9", f"{field}:2147483648", f"{field}:-3e9"):
        with pytest.raises(QueryError) as caught:
            matching(db, text)
        err = caught.value
        assert (err.token, err.position) == (text.split(":")[1], len(field) + 1), err.message
        assert "2,147,483,647" in err.expected and err.detail()[0]["field"] == "q"
    op = ">" if field not in ("sweep", "search", "group", "study") else ":"
    assert matching(db, f"{field}{op}2147483647") == set()  # the largest value runs, on both databases


def test_macs_are_a_64_bit_column_and_keep_the_1e15_bound(db: Seeded) -> None:
    assert matching(db, "macs<3e9") == EVERY
    assert matching(db, "macs>1e15") == set()
    with pytest.raises(QueryError) as caught:
        matching(db, "macs>2e15")
    assert caught.value.token == "2e15" and "1e15" in caught.value.expected


def test_sorting_by_an_option_and_the_origins_of_a_page(db: Seeded) -> None:
    from backend.runs.service import list_runs, origins_of

    with db.sessions() as s:
        rows, count = list_runs(s, sort="-lr", q="lr>=0.1", viewer_id=db.viewer)
        assert count == 4
        assert [r.config["lr"] for r in rows] == [0.4, 0.2, 0.2, 0.1]
        rows, _ = list_runs(s, sort="augment.cutout", q="")
        assert rows[-1].id == db.ids["beta"]
        origins = origins_of(s, rows)
    assert origins[db.ids["beta"]] == ("sweep", db.refs["sweep"], "lr grid")
    assert origins[db.ids["gamma"]] == ("search", db.refs["search"], "tuning")
    assert origins[db.ids["delta"]] == ("study", db.refs["study"], "seed study")
    assert db.ids["alpha"] not in origins


def test_chosen_columns_read_the_row_and_the_stored_config(db: Seeded) -> None:
    from backend.core.tables import Run

    with db.sessions() as s:
        beta = s.get_one(Run, db.ids["beta"])
        values = {c: q.column_value(beta, c) for c in q.parse_columns("lr,augment.cutout,test_acc,architecture.stages")}
    assert values == {"lr": 0.2, "augment.cutout": 8, "test_acc": 0.80, "architecture.stages": [[8], [16]]}


ALPHABET = "abelrstu_.:=!<>()\"'-% 0189kM,/\\;☃\x00"


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=ALPHABET, max_size=40) | st.sampled_from([m[0] for m in MATCHES]).map(lambda s: s + " (")
       | st.lists(st.sampled_from([m[0] for m in MATCHES if m[1] is not None]), max_size=4).map(" OR ".join))
def test_any_text_is_a_query_that_runs_or_a_query_error_never_anything_else(db: Seeded, text: str) -> None:
    try:
        matching(db, text)
    except QueryError as err:
        assert 0 <= err.position <= len(text) and err.expected
