"""Per-tenant read-only database roles: what the customer dashboard of one tenant connects as.

Role `<schema>_reader` (e.g. `tenant_demo_reader`) may LOGIN, CONNECT to the warehouse
database (granted where PUBLIC may not), USE its tenant's schema and SELECT every table in
it, including tables created later by the pipeline's user (default privileges). It gets
nothing on any other schema, so a dashboard holding tenant A's credentials cannot read tenant
B's tables; its sessions are read-only by default as a second line of defence.

The password is the secret EXNATON_READER_PASSWORD_<TENANT> (see settings.reader_password).
Without it a development password derived from the role name is used and a warning says so:
fine on a laptop, never in a deployment. Roles are cluster-wide in PostgreSQL: every database
of the server shares `tenant_demo_reader`; the grants are per database.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import psycopg2.errors
import psycopg2.extensions
import sqlalchemy as sa
from psycopg2 import sql

from exnaton_pipeline.lib import settings

log = logging.getLogger(__name__)

# Role attributes that would let a "reader" do more than read its schema.
_POWERS = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")


class RoleError(RuntimeError):
    """The reader role cannot be set up safely; the message says what to fix."""


@dataclass(frozen=True)
class ReaderRole:
    name: str
    password: str
    password_source: str  # "secret" (from the environment) or "dev-default"


def reader_role_name(schema: str) -> str:
    return f"{schema}_reader"


def reader_credentials(schema: str) -> ReaderRole:
    """The role name and password the pipeline sets and a dashboard deployment uses."""
    name = reader_role_name(schema)
    secret = settings.reader_password(schema)
    if secret is not None:
        return ReaderRole(name, secret, "secret")
    return ReaderRole(name, f"{name}-dev-only", "dev-default")


def reader_url(warehouse_url: str, schema: str) -> str:
    """`warehouse_url` with the tenant's reader role and password as the user."""
    role = reader_credentials(schema)
    url = sa.make_url(warehouse_url).set(username=role.name, password=role.password)
    return url.render_as_string(hide_password=False)


def ensure_reader_role(conn: psycopg2.extensions.connection, schema: str) -> ReaderRole:
    """Create or update the tenant's read-only role and its grants on `schema` (idempotent).

    Needs a user with CREATEROLE (or a superuser) that owns the tenant's tables. Call it in
    the transaction that created the schema: the default privileges then cover every table
    the pipeline adds later.
    """
    role = reader_credentials(schema)
    if role.password_source == "dev-default":
        _warn_dev_password(schema)
    try:
        with conn.cursor() as cur:
            _ensure(cur, role, schema)
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise RoleError(
            f"cannot set up role {role.name}: the pipeline's database user needs CREATEROLE "
            f"and must own schema {schema} ({(exc.pgerror or str(exc)).strip()})"
        ) from None
    return role


def _ensure(cur, role: ReaderRole, schema: str) -> None:
    r, s = sql.Identifier(role.name), sql.Identifier(schema)
    cur.execute(
        sql.SQL("SELECT {} FROM pg_roles WHERE rolname = %s").format(
            sql.SQL(", ").join(map(sql.Identifier, _POWERS))
        ),
        (role.name,),
    )
    existing = cur.fetchone()
    if existing is None:
        _create(cur, role)
    elif any(existing):
        powers = [p.removeprefix("rol") for p, on in zip(_POWERS, existing, strict=True) if on]
        raise RoleError(
            f"role {role.name} already exists with {', '.join(powers)}: a reader must not "
            f"have these; drop or fix the role by hand, then run again"
        )
    # keeps the password in step with a rotated secret
    cur.execute(
        sql.SQL("ALTER ROLE {} WITH LOGIN NOINHERIT PASSWORD {}").format(
            r, sql.Literal(role.password)
        )
    )
    cur.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(r))
    cur.execute(
        "SELECT current_database(), has_database_privilege(%s, current_database(), 'CONNECT')",
        (role.name,),
    )
    database, can_connect = cur.fetchone()
    if not can_connect:  # PUBLIC may connect by default; hardened servers revoke that
        cur.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), r)
        )
    # PUBLIC's rights on schema public are the server's business (since PostgreSQL 15 PUBLIC
    # may no longer CREATE there); the reader holds no rights of its own on it.
    cur.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(r))
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
    cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r))
    cur.execute(
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(s, r)
    )


def _create(cur, role: ReaderRole) -> None:
    cur.execute("SAVEPOINT create_reader")
    try:
        cur.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOINHERIT PASSWORD {}").format(
                sql.Identifier(role.name), sql.Literal(role.password)
            )
        )
    except psycopg2.errors.DuplicateObject:
        # created meanwhile by a run against another database of the same server
        cur.execute("ROLLBACK TO SAVEPOINT create_reader")
    else:
        cur.execute("RELEASE SAVEPOINT create_reader")
        log.info("created read-only role %s", role.name)


@functools.cache
def _warn_dev_password(schema: str) -> None:
    log.warning(
        "no secret for role %s: using the development password; set %s in a deployment",
        reader_role_name(schema),
        settings.reader_password_variable(schema),
    )
