import TanbaSQLite

/// The access layer's own SQLite file (`access.db`), with its own `schema_version`.
/// Every table is prefixed `access_` so the file could later be merged into the store
/// without a name clash. Personal fields (●) are sealed with AES-256-GCM.
///
/// | table | holds |
/// |---|---|
/// | `access_applications` | applications [LEX appendix 5]: ● applicant, action, role, reason, deadline, decision |
/// | `access_accounts` | login, role, status, ● profile, agreement, last request, block, credentials, lockout |
/// | `access_account_events` | the history of every account (approval, position change, block, login failures) |
/// | `access_notifications` | notices to the supervising prosecutor and the user's management [LEX 45] |
/// | `access_sessions` | SHA-256 of session tokens, expiry, the client node a wire login issued it to |
/// | `access_challenges` | login challenges (single use), bound to the client node that asked for it, with their issue time |
/// | `access_challenge_refusals` | the current refusal burst per account / client scope (challenge limits) |
/// | `access_incidents`, `access_maintenance` | incident journal [LEX 39–42] |
public enum AccessSchema {
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "accounts, applications, sessions, notifications, incidents", sql: """
            CREATE TABLE access_applications (
                application_id TEXT PRIMARY KEY,
                login TEXT NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('register', 'move', 'block')),
                role TEXT NOT NULL,
                sealed_applicant BLOB NOT NULL,
                reason TEXT NOT NULL,
                submitted_at TEXT NOT NULL,
                due_at TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'refused')),
                decided_at TEXT,
                decided_by TEXT,
                decision_reason TEXT,
                within_deadline INTEGER);
            CREATE INDEX access_applications_status ON access_applications (status, due_at);
            CREATE TABLE access_accounts (
                login TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('active', 'blocked')),
                sealed_profile BLOB NOT NULL,
                created_at TEXT NOT NULL,
                agreement_signed_at TEXT,
                agreement_digest TEXT,
                agreement_signature BLOB,
                last_request_at TEXT,
                blocked_kind TEXT,
                blocked_reason TEXT,
                blocked_at TEXT,
                certificate BLOB,
                sealed_totp BLOB,
                totp_last_step INTEGER,
                failed_attempts INTEGER NOT NULL DEFAULT 0,
                locked_until TEXT);
            CREATE TABLE access_account_events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                login TEXT NOT NULL,
                at TEXT NOT NULL,
                kind TEXT NOT NULL,
                detail TEXT NOT NULL,
                actor TEXT NOT NULL);
            CREATE INDEX access_account_events_login ON access_account_events (login, seq);
            CREATE TABLE access_notifications (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                login TEXT NOT NULL,
                recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('supervising-prosecutor', 'management')),
                sealed_notice BLOB NOT NULL,
                created_at TEXT NOT NULL);
            CREATE TABLE access_sessions (
                token_hash TEXT PRIMARY KEY,
                login TEXT NOT NULL,
                second_factor TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                revoked INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE access_challenges (
                nonce TEXT PRIMARY KEY,
                login TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                used INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE access_incidents (
                incident_id TEXT PRIMARY KEY,
                source TEXT NOT NULL CHECK (source IN ('monitoring', 'manual')),
                component TEXT NOT NULL,
                started_at TEXT NOT NULL,
                cause TEXT NOT NULL,
                actions TEXT NOT NULL,
                ended_at TEXT,
                recorded_by TEXT NOT NULL);
            CREATE TABLE access_health_state (
                component TEXT PRIMARY KEY,
                down_since TEXT NOT NULL,
                cause TEXT NOT NULL,
                incident_id TEXT);
            CREATE TABLE access_maintenance (
                maintenance_id TEXT PRIMARY KEY,
                starts_at TEXT NOT NULL,
                ends_at TEXT NOT NULL,
                description TEXT NOT NULL,
                announced_at TEXT NOT NULL,
                announced_by TEXT NOT NULL,
                cancelled INTEGER NOT NULL DEFAULT 0);
            """),
        // Login over the wire (LOGIN_CHALLENGE / LOGIN): a challenge is good only for the
        // client node that asked for it, and the session it opens only from that node, so
        // neither a challenge nor a token is of use to another station. NULL: issued
        // in-process (tools, tests), bound to no node.
        Migration(version: 2, name: "login challenges and sessions bound to the client node", sql: """
            ALTER TABLE access_challenges ADD COLUMN client TEXT;
            ALTER TABLE access_sessions ADD COLUMN client TEXT;
            """),
        // Challenge issuance is limited per account and per client node (`ChallengeLimits`):
        // the issue time counts challenges per minute; used challenges are kept until they
        // leave that window, expired ones are purged. A refusal burst (one per scope and
        // window) is remembered so that only its first refusal is audited.
        Migration(version: 3, name: "login challenge limits per account and client", sql: """
            ALTER TABLE access_challenges ADD COLUMN issued_at TEXT;
            CREATE INDEX access_challenges_login ON access_challenges (login, issued_at);
            CREATE INDEX access_challenges_client ON access_challenges (client, issued_at);
            CREATE TABLE access_challenge_refusals (
                scope TEXT PRIMARY KEY,
                since TEXT NOT NULL,
                refused INTEGER NOT NULL);
            """),
    ]
}
