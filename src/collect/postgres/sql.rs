//! The one statement a refresh runs. Pure text, no I/O: see `super::parse` for the shape it
//! returns and `super::PgSession::snapshot` for how it is sent.

/// Sessions whose `application_name` is this are watchfloor's own (ours and other admins'):
/// connect sets it, and [`SNAPSHOT_SQL`] leaves those sessions out of the list while they are
/// idle or running the snapshot. The name is not a hiding place: a session that calls itself
/// "watchfloor" but holds a transaction open or runs other SQL is still listed.
pub const APPLICATION_NAME: &str = "watchfloor";

/// How much of each session's query text is fetched (PostgreSQL keeps at most
/// `track_activity_query_size` bytes, 1 kB by default, but it can be set to 1 MB).
pub const QUERY_CHARS: usize = 4096;

/// One statement, one row, one JSON text column: the whole refresh in a single round trip.
/// Prepared once per connection, so each refresh is Bind/Execute without parsing and
/// planning again; `$1` says whether database sizes are measured this time. Works on PostgreSQL 12 to 17: it
/// uses no column added after 12; `pg_locks.waitstart` (14+) is read through `to_jsonb(l)` so
/// it is NULL, not an error, on 12 and 13, and `reserved_connections` (16+) through
/// `current_setting(name, true)`.
///
/// Privileges: everything here works for any role. Without superuser or pg_read_all_stats
/// (pg_monitor includes it) PostgreSQL hides other roles' sessions' state, query, times and
/// backend_type (they come back NULL; such rows are kept as hidden client sessions when they
/// have a database and a user, which background processes other than autovacuum and parallel
/// workers lack), replication details and the sizes of databases the role may not connect to
/// (guarded here so pg_database_size does not raise an error).
///
/// The first line is a marker: other watchfloor consoles recognise this statement by it.
pub const SNAPSHOT_SQL: &str = r#"/* watchfloor snapshot */
WITH act AS MATERIALIZED (
  -- Client backends only: they are what max_connections limits (autovacuum, WAL senders and
  -- background workers have slots of their own). Hidden rows (backend_type NULL) of a role
  -- we may not see are counted when they have a database and a user.
  -- `watchfloor`: our own connection, and other consoles' while idle or taking a snapshot
  -- (not other work under that name, nor hidden rows, which we cannot tell apart).
  SELECT a.*,
         coalesce(a.pid = pg_backend_pid()
                  OR (a.application_name = 'watchfloor'
                      AND (a.state = 'idle' OR a.query LIKE '/* watchfloor snapshot */%')),
                  false) AS watchfloor
  FROM pg_stat_activity a
  WHERE a.backend_type = 'client backend'
     OR (a.backend_type IS NULL AND a.datid IS NOT NULL AND a.usesysid IS NOT NULL)
),
locks AS MATERIALIZED (
  SELECT l.pid, l.locktype, l.mode, l.granted, l.relation, l.database,
         (to_jsonb(l) ->> 'waitstart')::timestamptz AS wait_start
  FROM pg_locks l
),
waits AS (
  -- The lock each waiting backend asks for. A row-lock wait is on the holder's transaction id
  -- and names no relation: take it from the tuple lock the waiter already holds.
  SELECT DISTINCT ON (w.pid) w.pid, w.locktype, w.mode, w.wait_start,
         coalesce(w.relation, t.relation) AS relation,
         coalesce(w.database, t.database) AS database
  FROM locks w
  LEFT JOIN LATERAL (
    SELECT x.relation, x.database FROM locks x
    WHERE x.pid = w.pid AND x.granted AND x.locktype = 'tuple' LIMIT 1
  ) t ON w.relation IS NULL
  WHERE NOT w.granted
  ORDER BY w.pid, w.wait_start
),
lsn AS (
  -- pg_current_wal_lsn() raises an error during recovery: a standby measures from replay.
  SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
              ELSE pg_current_wal_lsn() END AS here
)
SELECT json_build_object(
  'server', json_build_object(
    'version', current_setting('server_version'),
    'version_num', current_setting('server_version_num')::int,
    'started_at', pg_postmaster_start_time(),
    'now', now(),
    'max_connections', current_setting('max_connections')::int,
    'superuser_reserved', current_setting('superuser_reserved_connections')::int,
    'reserved', coalesce(current_setting('reserved_connections', true)::int, 0),
    'autovacuum_freeze_max_age', current_setting('autovacuum_freeze_max_age')::bigint,
    'in_recovery', pg_is_in_recovery(),
    'user', current_user,
    'privileged', coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false)
                  OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'),
    'own_pid', pg_backend_pid(),
    -- Readable by superusers and pg_read_all_settings (pg_monitor has it), else NULL.
    'data_directory', CASE WHEN coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false)
                             OR pg_has_role(current_user, 'pg_read_all_settings', 'USAGE')
                        THEN current_setting('data_directory') END
  ),
  'total_connections', (SELECT count(*) FROM act),
  'own_sessions', (SELECT count(*) FROM act a WHERE a.watchfloor),
  'sessions', coalesce((
    SELECT json_agg(json_build_object(
      'pid', a.pid,
      'user', a.usename,
      'database', a.datname,
      'application', a.application_name,
      'client', CASE WHEN a.client_port = -1 THEN 'local' ELSE host(a.client_addr) END,
      'state', a.state,
      'wait_event_type', a.wait_event_type,
      'wait_event', a.wait_event,
      'backend_start', a.backend_start,
      'xact_start', a.xact_start,
      'query_start', a.query_start,
      'state_change', a.state_change,
      'query', left(a.query, 4096),
      -- pg_blocking_pids takes the lock manager's partition locks: only ask for waiters.
      'blocked_by', CASE WHEN w.pid IS NULL THEN '{}'::int[] ELSE pg_blocking_pids(a.pid) END,
      'waiting_for', CASE WHEN w.pid IS NOT NULL THEN json_build_object(
        'locktype', w.locktype,
        'mode', w.mode,
        'relation', CASE
          WHEN w.relation IS NULL THEN NULL
          WHEN w.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
            THEN w.relation::regclass::text
          -- Another database's catalog cannot be read from here: name the database, so the
          -- admin knows where (or sets the cluster's `database` to it to see the name).
          ELSE 'table ' || w.relation || ' of database '
            || coalesce((SELECT d.datname FROM pg_database d WHERE d.oid = w.database), '?') END,
        'since', w.wait_start) END
    ) ORDER BY a.pid)
    FROM act a LEFT JOIN waits w ON w.pid = a.pid
    WHERE NOT a.watchfloor
  ), '[]'),
  'databases', coalesce((
    SELECT json_agg(json_build_object(
      'name', d.datname,
      -- $1: sizes are asked for now and then only (see SIZES_EVERY): stat-ing every file
      -- of every database is most of what a refresh costs the server.
      'size_bytes', CASE
        WHEN $1::boolean
         AND d.datconnlimit <> -2  -- -2: left invalid by an interrupted DROP DATABASE
         AND (has_database_privilege(d.oid, 'CONNECT')
              OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'))
        THEN pg_database_size(d.oid) END,
      'xid_age', age(d.datfrozenxid),
      'mxid_age', mxid_age(d.datminmxid),
      'allows_connections', d.datallowconn
    ) ORDER BY d.datname)
    FROM pg_database d
  ), '[]'),
  'replication', json_build_object(
    'standbys', coalesce((
      SELECT json_agg(json_build_object(
        'pid', r.pid,
        'name', r.application_name,
        'client', host(r.client_addr),
        'user', r.usename,
        'state', r.state,
        'sync_state', r.sync_state,
        'write_lag_s', extract(epoch FROM r.write_lag),
        'flush_lag_s', extract(epoch FROM r.flush_lag),
        'replay_lag_s', extract(epoch FROM r.replay_lag),
        'replay_lag_bytes', pg_wal_lsn_diff((SELECT here FROM lsn), r.replay_lsn)::bigint
      ) ORDER BY r.application_name, r.pid)
      FROM pg_stat_replication r
    ), '[]'),
    'receiver', CASE WHEN pg_is_in_recovery() THEN json_build_object(
      'wal_receiver', (
        SELECT json_build_object(
          'status', w.status,
          'sender_host', w.sender_host,
          'sender_port', w.sender_port,
          'slot', w.slot_name,
          'last_msg_at', w.last_msg_receipt_time)
        FROM pg_stat_wal_receiver w LIMIT 1),
      'receive_replay_lag_bytes',
        pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint,
      -- An idle primary sends nothing to replay: caught up is no lag, however old the last
      -- replayed transaction is.
      'replay_lag_s', CASE
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
        ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END,
      'last_replayed_at', pg_last_xact_replay_timestamp()) END,
    'slots', coalesce((
      SELECT json_agg(json_build_object(
        'name', s.slot_name,
        'slot_type', s.slot_type,
        'active', s.active,
        'retained_bytes', pg_wal_lsn_diff((SELECT here FROM lsn), s.restart_lsn)::bigint
      ) ORDER BY s.slot_name)
      FROM pg_replication_slots s
    ), '[]')
  )
)::text
"#;
