import TanbaCore
import TanbaSQLite
/// The data store's schema, as migrations. docs/store.md explains each table.
///
/// Rules every table follows:
/// - no plaintext personal or biometric data: such columns are `sealed_*` (AES-256-GCM
///   under the owner's data key, see `Sealer`); look-ups go through keyed hashes;
/// - an explicit PRIMARY KEY, because the session extension (replication) ignores
///   tables without one;
/// - times are Astana-time ISO 8601 text (`AstanaTime`).
public enum StoreSchema {
    /// Tables whose changes are replicated to the standby (everything except the
    /// replication machinery itself and schema bookkeeping). The order is the order of
    /// changes in a changeset: the audit archive comes before the live log, so a standby
    /// replaying a rotation inserts the archived copies before the trigger-guarded
    /// deletions from the live log.
    public static let replicatedTables = [
        "persons", "enrollments", "enrollment_templates", "consents", "archive",
        "deletion_records", "accounts", "consent_documents", "answered_requests", "held_enrollments",
        "audit_archive", "audit_segments", "audit_log",
    ]

    public static let migrations: [Migration] = [
        Migration(version: 1, name: "records, accounts, audit log", sql: """
            CREATE TABLE persons (
                person_id       BLOB PRIMARY KEY,      -- 16 random bytes, no meaning
                iin_hash        BLOB NOT NULL UNIQUE,  -- HMAC-SHA256(lookup key, IIN)
                subject_ref     TEXT NOT NULL,         -- keyed hash used in audit/deletion records
                sealed_identity BLOB NOT NULL,         -- name, IIN, birth date, guardian
                created_at      TEXT NOT NULL,
                updated_at      TEXT NOT NULL
            ) WITHOUT ROWID;

            -- The current enrollment of a person (at most one); previous ones are in `archive`.
            CREATE TABLE enrollments (
                enrollment_id     BLOB PRIMARY KEY,
                person_id         BLOB NOT NULL UNIQUE REFERENCES persons(person_id) ON DELETE CASCADE,
                sealed_capture    BLOB NOT NULL,       -- station, operator, device, time
                sealed_exceptions BLOB NOT NULL,       -- missing fingers and why [BIO 7]
                enrolled_at       TEXT NOT NULL
            ) WITHOUT ROWID;

            CREATE TABLE enrollment_templates (
                enrollment_id   BLOB NOT NULL REFERENCES enrollments(enrollment_id) ON DELETE CASCADE,
                position        INTEGER NOT NULL,      -- ISO finger position; says nothing on its own
                sealed_template BLOB NOT NULL,         -- native template record of one finger
                PRIMARY KEY (enrollment_id, position)
            ) WITHOUT ROWID;

            CREATE TABLE consents (
                consent_id     BLOB PRIMARY KEY,
                person_id      BLOB NOT NULL REFERENCES persons(person_id) ON DELETE CASCADE,
                sealed_consent BLOB NOT NULL,          -- the consent form [BIO appendix], [PD 8.4]
                given_at       TEXT NOT NULL,
                revoked_at     TEXT
            ) WITHOUT ROWID;
            CREATE INDEX consents_by_person ON consents(person_id);

            -- Previous enrollments after re-enrollment [BIO 8, 9]: never loaded for matching.
            CREATE TABLE archive (
                enrollment_id     BLOB PRIMARY KEY,
                person_id         BLOB NOT NULL REFERENCES persons(person_id) ON DELETE CASCADE,
                sealed_enrollment BLOB NOT NULL,       -- capture, exceptions and templates
                enrolled_at       TEXT NOT NULL,
                archived_at       TEXT NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX archive_by_person ON archive(person_id);

            -- What remains after a deletion [BIO 11]: who, where, when, basis. No biometric
            -- data and no plaintext identity.
            CREATE TABLE deletion_records (
                deletion_id  BLOB PRIMARY KEY,
                subject_ref  TEXT NOT NULL,
                owner_id     BLOB NOT NULL,            -- the random person_id whose key was shredded
                requested_by TEXT NOT NULL,            -- subject, representative, guardian, court, ...
                branch       TEXT NOT NULL,
                basis        TEXT NOT NULL,
                requested_at TEXT NOT NULL,
                deleted_at   TEXT NOT NULL,
                actor        TEXT NOT NULL
            ) WITHOUT ROWID;

            -- Users of the system [LEX 13-18]. The login is a pseudonymous handle; the
            -- application data (name, IIN, organisation, contacts) is sealed.
            CREATE TABLE accounts (
                account_id          BLOB PRIMARY KEY,
                login               TEXT NOT NULL UNIQUE,
                role                TEXT NOT NULL,
                status              TEXT NOT NULL CHECK (status IN ('active', 'blocked')),
                sealed_profile      BLOB NOT NULL,
                agreement_signed_at TEXT,
                last_request_at     TEXT,
                blocked_reason      TEXT,
                created_at          TEXT NOT NULL
            ) WITHOUT ROWID;

            -- Hash-chained event log [LEX 37, 38, 50]; see AuditLog.
            CREATE TABLE audit_log (
                seq         INTEGER PRIMARY KEY,
                at          TEXT NOT NULL,
                actor       TEXT NOT NULL,
                role        TEXT NOT NULL,
                basis       TEXT NOT NULL,
                case_number TEXT,
                operation   TEXT NOT NULL,
                subject_ref TEXT,
                result      TEXT NOT NULL,
                prev_hash   BLOB NOT NULL,
                hash        BLOB NOT NULL
            );
            CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
            """),
        Migration(version: 2, name: "audit segments", sql: """
            -- Rotated audit entries: same rows, same chain, moved out of the hot table.
            CREATE TABLE audit_archive (
                seq         INTEGER PRIMARY KEY,
                at          TEXT NOT NULL,
                actor       TEXT NOT NULL,
                role        TEXT NOT NULL,
                basis       TEXT NOT NULL,
                case_number TEXT,
                operation   TEXT NOT NULL,
                subject_ref TEXT,
                result      TEXT NOT NULL,
                prev_hash   BLOB NOT NULL,
                hash        BLOB NOT NULL,
                segment     INTEGER NOT NULL
            );
            CREATE TABLE audit_segments (
                segment     INTEGER PRIMARY KEY,
                first_seq   INTEGER NOT NULL,
                last_seq    INTEGER NOT NULL,
                last_hash   BLOB NOT NULL,
                archived_at TEXT NOT NULL
            );
            -- A row may leave the live log only once an identical copy is in the archive.
            CREATE TRIGGER audit_log_delete_only_archived BEFORE DELETE ON audit_log
            WHEN NOT EXISTS (SELECT 1 FROM audit_archive a WHERE a.seq = OLD.seq AND a.hash = OLD.hash)
            BEGIN SELECT RAISE(ABORT, 'audit entries are removed only after archiving'); END;
            CREATE TRIGGER audit_archive_no_update BEFORE UPDATE ON audit_archive
            BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
            CREATE TRIGGER audit_archive_no_delete BEFORE DELETE ON audit_archive
            BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
            """),
        Migration(version: 3, name: "replication", sql: """
            -- Primary side: one row per committed write transaction.
            CREATE TABLE replication_log (
                seq        INTEGER PRIMARY KEY,
                hash       BLOB NOT NULL,              -- SHA-256(previous hash || seq || changeset)
                changeset  BLOB NOT NULL,
                created_at TEXT NOT NULL
            );
            -- Standby side: where the applier stands, and why it stopped if it did.
            CREATE TABLE replica_state (
                id              INTEGER PRIMARY KEY CHECK (id = 1),
                last_seq        INTEGER NOT NULL,
                last_hash       BLOB NOT NULL,
                diverged_reason TEXT
            );
            """),
        Migration(version: 4, name: "shard keys", sql: """
            -- PersonShard.key of the person's IIN (a keyed-nothing 63-bit hash: it reveals no
            -- more than which shard a person is on). Workers stream their shard with
            -- WHERE shard_key % n = s without decrypting anyone else. NULL for rows written
            -- before version 4 until Store.init fills them in.
            ALTER TABLE persons ADD COLUMN shard_key INTEGER;
            """),
        Migration(version: 5, name: "consent documents, answered requests", sql: """
            -- Consent documents as the stations signed and sent them (CONSENT 0x0A) [BIO 3],
            -- [PD 8.3]: kept from arrival, before the enrollment they cover exists, so each is
            -- sealed under a data key of its own (owner = consent_id) and shredded with the
            -- person's data. The latest row for an IIN (highest seq) decides: a grant, or the
            -- revocation that ended it.
            CREATE TABLE consent_documents (
                consent_id      BLOB PRIMARY KEY,      -- 16 random bytes; the data key's owner
                iin_hash        BLOB NOT NULL,         -- HMAC-SHA256(lookup key, IIN)
                seq             INTEGER NOT NULL,      -- arrival order
                action          TEXT NOT NULL CHECK (action IN ('granted', 'revoked')),
                given_on        TEXT NOT NULL,         -- date on the form, YYYY-MM-DD
                last_day        TEXT,                  -- last day the term covers; NULL: until revoked
                doc_hash        BLOB NOT NULL,         -- SHA-256(document || signature): re-deliveries
                sealed_document BLOB NOT NULL,         -- signed document, signature, station
                received_at     TEXT NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX consent_documents_by_iin ON consent_documents(iin_hash, seq);

            -- The first answer to each state-changing request (ENROLL, UPDATE, DELETE,
            -- CONSENT), written in the transaction of the change it answers: a retry after
            -- a coordinator restart gets this answer, never a second execution. Answers hold
            -- outcomes and shard coverage only — no personal data.
            CREATE TABLE answered_requests (
                sender      TEXT NOT NULL,
                request_id  BLOB NOT NULL,             -- 16 bytes
                fingerprint BLOB NOT NULL,             -- SHA-256(type || payload) of the request
                answer      BLOB NOT NULL,             -- answer type byte || encoded body
                answered_at TEXT NOT NULL,
                PRIMARY KEY (sender, request_id)
            ) WITHOUT ROWID;
            CREATE INDEX answered_requests_by_time ON answered_requests(answered_at);
            """),
        Migration(version: 6, name: "held enrollments", sql: """
            -- Enrollments 1:N de-duplication held for adjudication (possible duplicates), and
            -- the examiners' decisions on them. Each row is sealed under a data key of its own
            -- (owner = hold_id), shredded when the IIN is deleted. While `held`, sealed_hold
            -- has the templates, finger exceptions, station and candidates; once decided it
            -- keeps the same facts and the decision without the templates (an accepted
            -- person's templates are in their enrollment, a rejected one's are gone).
            CREATE TABLE held_enrollments (
                hold_id     BLOB PRIMARY KEY,          -- 16 random bytes; the data key's owner
                iin_hash    BLOB NOT NULL,             -- HMAC-SHA256(lookup key, IIN)
                subject_ref TEXT NOT NULL,             -- keyed hash, as in the audit log
                status      TEXT NOT NULL CHECK (status IN ('held', 'accepted', 'rejected')),
                candidates  INTEGER NOT NULL,          -- number of possible duplicates
                sealed_hold BLOB NOT NULL,
                held_at     TEXT NOT NULL,
                decided_at  TEXT,
                decided_by  TEXT                       -- the examiner's login
            ) WITHOUT ROWID;
            -- At most one pending hold per IIN; decided ones accumulate.
            CREATE UNIQUE INDEX held_enrollments_pending ON held_enrollments(iin_hash) WHERE status = 'held';
            CREATE INDEX held_enrollments_by_iin ON held_enrollments(iin_hash);
            """),
        Migration(version: 7, name: "audit by subject", sql: """
            -- A subject report [PD 24] reads one person's entries out of a log that grows by
            -- every request of the national system: look them up, do not scan the log.
            CREATE INDEX audit_log_by_subject ON audit_log(subject_ref, seq) WHERE subject_ref IS NOT NULL;
            CREATE INDEX audit_archive_by_subject ON audit_archive(subject_ref, seq) WHERE subject_ref IS NOT NULL;
            """),
    ]
}
