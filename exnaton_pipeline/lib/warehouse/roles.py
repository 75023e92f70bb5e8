"""Per-tenant read-only database roles: what the customer dashboard of one tenant connects as.

Role `<schema>_reader` (e.g. `tenant_demo_reader`) may LOGIN, CONNECT to the warehouse
database (granted where PUBLIC may not), USE its tenant's schema and SELECT every table in
it, including tables created later by the pipeline's user (default privileges). It gets
nothing on any other schema, so a dashboard holding tenant A's credentials cannot read tenant
B's tables; its sessions are read-only by default as a second line of defence.

Every run's setup checks that this still holds: a reader that is a member of any role (e.g.
`pg_read_all_data`), holds a power (superuser, createrole, createdb, replication, bypassrls)
or may use another tenant's schema is refused, never silently repaired (docs/decisions.md).
Setup only narrows what a reader may do: it never re-enables LOGIN an operator took away.

The password is the secret EXNATON_READER_PASSWORD_<TENANT> (settings.reader_password), set
when the role is created and afterwards only by `exnaton reader-password` (set_reader_passwords):
a process that lacks the secret changes nothing. It reaches the server as a SCRAM-SHA-256
verifier computed here, never as clear text in SQL (which the server may log). Without the
secret the role gets the development password `<role>-dev-only` on the embedded database of
this EXNATON_HOME only; anywhere else it is created without a password, so it cannot sign in.
Roles are cluster-wide in PostgreSQL: every database of the server shares
`tenant_demo_reader`; the grants are per database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2.errors
import psycopg2.extensions
import sqlalchemy as sa
from psycopg2 import sql

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.warehouse import database

log = logging.getLogger(__name__)

# Role attributes (pg_roles column: keyword) that would let a "reader" do more than read.
_POWERS = {
    "rolsuper": "superuser",
    "rolcreaterole": "createrole",
    "rolcreatedb": "createdb",
    "rolreplication": "replication",
    "rolbypassrls": "bypassrls",
}
_READ_ONLY = "default_transaction_read_only=on"


class RoleError(RuntimeError):
    """The reader role cannot be set up safely; the message says what to fix."""


@dataclass(frozen=True)
class ReaderRole:
    """A tenant's reader role and the password this process's environment gives it: what a
    new role is created with and a dashboard deployment signs in with (an existing role keeps
    the password it has)."""

    name: str
    password: str | None  # None: no secret here and not the embedded server
    password_source: str  # "secret", "dev-default" (embedded server only) or "none"


def reader_role_name(schema: str) -> str:
    return f"{schema}_reader"


def reader_credentials(schema: str, embedded: bool) -> ReaderRole:
    """The role name and the password a new role gets and a dashboard deployment uses:
    the tenant's secret; else, on the embedded server only, the development password."""
    name = reader_role_name(schema)
    secret = settings.reader_password(schema)
    if secret is not None:
        return ReaderRole(name, secret, "secret")
    if embedded:
        return ReaderRole(name, f"{name}-dev-only", "dev-default")
    return ReaderRole(name, None, "none")


def reader_url(warehouse_url: str, schema: str) -> str:
    """`warehouse_url` with the tenant's reader role (and its password, if this process has
    one for that server) as the user."""
    role = reader_credentials(schema, database.serves_embedded(database.url_host(warehouse_url)))
    owner = sa.make_url(warehouse_url)
    # a new URL, not owner.set(): set(password=None) would keep the owner's password
    url = sa.URL.create(
        owner.drivername,
        role.name,
        role.password,
        owner.host,
        owner.port,
        owner.database,
        owner.query,
    )
    return url.render_as_string(hide_password=False)


def ensure_reader_role(conn: psycopg2.extensions.connection, schema: str) -> ReaderRole:
    """Create the tenant's read-only role if missing, refuse it if it may read more than
    `schema`, and grant it `schema` (idempotent; part of every run's setup).

    The password of an existing role is left alone (set_reader_passwords changes it). Needs a
    user with CREATEROLE (or a superuser) that owns the tenant's tables. Call it in the
    transaction that created the schema: the default privileges then cover every table the
    pipeline adds later. Raises RoleError naming what to fix.
    """
    role = reader_credentials(schema, database.serves_embedded(conn.info.host))
    with _privileged(role.name, schema), conn.cursor() as cur:
        if _attributes(cur, role.name) is None:
            _create(cur, conn, role, schema)
        attributes = _attributes(cur, role.name)
        _refuse_unsafe(cur, role.name, schema, attributes)
        _narrow(cur, role.name, attributes)
        _grant(cur, role.name, schema)
    return role


def set_reader_passwords(conn: psycopg2.extensions.connection, schemas: Sequence[str]) -> list[str]:
    """`exnaton reader-password`: set each tenant's reader password from its secret (rotation,
    or a role created without one); one line per role saying what was done.

    Raises RoleError when a secret is unset (before any change) or a role may read more than
    its schema (the caller's rollback then keeps every password as it was). A role that does
    not exist yet is left to the tenant's first run.
    """
    missing = [
        settings.reader_password_variable(s) for s in schemas if not settings.reader_password(s)
    ]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise RoleError(f"{', '.join(missing)} {verb} not set: no password was changed")
    done = []
    for schema in schemas:
        name, variable = reader_role_name(schema), settings.reader_password_variable(schema)
        with _privileged(name, schema), conn.cursor() as cur:
            attributes = _attributes(cur, name)
            if attributes is None:
                done.append(
                    f"role {name} does not exist yet: the tenant's first pipeline run creates "
                    f"it with the password from {variable}"
                )
                continue
            _refuse_unsafe(cur, name, schema, attributes)
            cur.execute(
                sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(name)),
                (_verifier(conn, name, settings.reader_password(schema)),),
            )
        done.append(f"set the password of role {name} from {variable}")
    return done


def _verifier(conn: psycopg2.extensions.connection, role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of `password`, computed by libpq in this process: the server
    stores it as is and never sees (or logs) the password itself."""
    return psycopg2.extensions.encrypt_password(
        password, role, scope=conn, algorithm="scram-sha-256"
    )


@contextmanager
def _privileged(role: str, schema: str) -> Iterator[None]:
    try:
        yield
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise RoleError(
            f"cannot set up role {role}: the pipeline's database user needs CREATEROLE "
            f"and must own schema {schema} ({(exc.pgerror or str(exc)).strip()})"
        ) from None


def _attributes(cur, role: str) -> dict | None:
    """The role's attributes and settings (pg_roles), None if it does not exist."""
    cur.execute(
        sql.SQL(
            "SELECT {}, rolcanlogin, rolinherit, rolconfig FROM pg_roles WHERE rolname = %s"
        ).format(sql.SQL(", ").join(map(sql.Identifier, _POWERS))),
        (role,),
    )
    row = cur.fetchone()
    return None if row is None else dict(zip([c.name for c in cur.description], row, strict=True))


def _create(cur, conn: psycopg2.extensions.connection, role: ReaderRole, schema: str) -> None:
    statement = sql.SQL("CREATE ROLE {} LOGIN NOINHERIT").format(sql.Identifier(role.name))
    params: tuple = ()
    if role.password is not None:
        statement += sql.SQL(" PASSWORD %s")
        params = (_verifier(conn, role.name, role.password),)
    cur.execute("SAVEPOINT create_reader")
    try:
        cur.execute(statement, params)
    except psycopg2.errors.DuplicateObject:
        # created meanwhile by a run against another database of the same server
        cur.execute("ROLLBACK TO SAVEPOINT create_reader")
        return
    cur.execute("RELEASE SAVEPOINT create_reader")
    variable = settings.reader_password_variable(schema)
    if role.password_source == "secret":
        log.info("created read-only role %s with the password from %s", role.name, variable)
    elif role.password_source == "dev-default":
        log.warning(
            "created read-only role %s with the development password because %s is not set: "
            "acceptable on the embedded database only",
            role.name,
            variable,
        )
    else:
        log.warning(
            "created read-only role %s without a password: it cannot sign in until %s is set "
            "and `exnaton reader-password --tenant %s` has run",
            role.name,
            variable,
            _tenant_hint(schema),
        )


def _tenant_hint(schema: str) -> str:
    """The tenant id behind `schema` where it is certain (ids may hold `-` or `_`, both `_`
    in the schema name), else a placeholder."""
    suffix = schema.removeprefix("tenant_")
    return suffix if "_" not in suffix else "<tenant id>"


def _refuse_unsafe(cur, role: str, schema: str, attributes: dict) -> None:
    """Raise RoleError if `role` may read more than `schema`: a power, any membership (e.g.
    pg_read_all_data, another tenant's reader) or the use of another tenant's schema."""
    name = sql.Identifier(role)
    problems, fixes = [], []
    powers = [keyword for column, keyword in _POWERS.items() if attributes[column]]
    if powers:
        problems.append(f"it has {', '.join(powers)}")
        fixes.append(
            sql.SQL("ALTER ROLE {} {}").format(
                name, sql.SQL(" ").join(sql.SQL("NO" + p.upper()) for p in powers)
            )
        )
    cur.execute(
        "SELECT DISTINCT g.rolname FROM pg_auth_members m "
        "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member "
        "WHERE r.rolname = %s ORDER BY 1",
        (role,),
    )
    granted = [row[0] for row in cur.fetchall()]
    if granted:
        problems.append(f"it is a member of {', '.join(granted)}")
        fixes.append(
            sql.SQL("REVOKE {} FROM {}").format(
                sql.SQL(", ").join(map(sql.Identifier, granted)), name
            )
        )
    # USAGE is what opens a schema's tables; it may come from a grant to the role or to PUBLIC
    cur.execute(
        "SELECT nspname, has_schema_privilege('public', oid, 'USAGE') FROM pg_namespace "
        "WHERE nspname LIKE 'tenant\\_%%' AND nspname <> %s "
        "AND has_schema_privilege(%s, oid, 'USAGE') ORDER BY 1",
        (schema, role),
    )
    for other, via_public in cur.fetchall():
        problems.append(f"{'PUBLIC' if via_public else 'it'} may use schema {other}")
        fixes.append(
            sql.SQL("REVOKE USAGE ON SCHEMA {} FROM {}").format(
                sql.Identifier(other), sql.SQL("PUBLIC") if via_public else name
            )
        )
    if problems:
        raise RoleError(
            f"role {role} could read more than schema {schema}: {'; '.join(problems)}. A "
            f"tenant's reader must hold no power, be a member of no role and use no other "
            f"tenant's schema; the pipeline does not undo such grants. Fix it by hand, then "
            f"run again: {' '.join(f.as_string(cur) + ';' for f in fixes)}"
        )


def _narrow(cur, role: str, attributes: dict) -> None:
    """Restore the restrictions the pipeline gives a reader, only where they were lifted (an
    ALTER ROLE on every run would rewrite the catalog row every time)."""
    r = sql.Identifier(role)
    if attributes["rolinherit"]:  # a reader uses no other role's rights, not even by accident
        cur.execute(sql.SQL("ALTER ROLE {} NOINHERIT").format(r))
    if _READ_ONLY not in (attributes["rolconfig"] or []):
        cur.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(r))


def _grant(cur, role: str, schema: str) -> None:
    r, s = sql.Identifier(role), sql.Identifier(schema)
    cur.execute(
        "SELECT current_database(), has_database_privilege(%s, current_database(), 'CONNECT')",
        (role,),
    )
    database_name, can_connect = cur.fetchone()
    if not can_connect:  # PUBLIC may connect by default; hardened servers revoke that
        cur.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database_name), r)
        )
    # PUBLIC's rights on schema public are the server's business (since PostgreSQL 15 PUBLIC
    # may no longer CREATE there); the reader holds no rights of its own on it.
    cur.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(r))
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
    cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r))
    cur.execute(
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(s, r)
    )
