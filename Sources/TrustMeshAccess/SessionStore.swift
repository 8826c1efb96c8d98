package import Foundation
import GRDB
import TrustMeshCrypto
package import TrustMeshModel

/// A signed-in person's session at this node.
package struct Session: Sendable, Hashable {
    /// A short, non-secret handle for the audit log (the start of the id's hash).
    package var handle: String
    package var person: Person
    package var roles: Set<Role>
    /// The per-session token every state-changing page request must carry.
    package var csrf: String
    /// The provider's ID token, kept for sign-out at the provider (`id_token_hint`).
    package var idToken: String
    package var created: Date
    package var lastSeen: Date
}

/// A sign-in in progress: what the callback must find.
package struct PendingSignIn: Sendable, Hashable {
    package var nonce: String
    package var verifier: String
    package var returnTo: String
    package var created: Date
}

/// Sessions and sign-ins in progress, server-side, in `access.sqlite` in the node's data folder.
///
/// Only a hash of each session id is stored: a copy of the database does not give live sessions.
/// Ids are 256-bit random values (base64url), made anew at every sign-in (no fixation).
package final class SessionStore: Sendable {
    private let database: DatabaseQueue
    package let idle: Duration
    package let absolute: Duration

    package init(path: String, idle: Duration, absolute: Duration) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        database = try DatabaseQueue(path: path, configuration: configuration)
        self.idle = idle
        self.absolute = absolute
        try database.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS sessions (
                        idHash TEXT PRIMARY KEY, handle TEXT NOT NULL, person TEXT NOT NULL, roles TEXT NOT NULL,
                        csrf TEXT NOT NULL, idToken TEXT NOT NULL, created REAL NOT NULL, lastSeen REAL NOT NULL);
                    CREATE TABLE IF NOT EXISTS signIns (
                        stateHash TEXT PRIMARY KEY, nonce TEXT NOT NULL, verifier TEXT NOT NULL,
                        returnTo TEXT NOT NULL, created REAL NOT NULL);
                    """)
        }
        if FileManager.default.fileExists(atPath: path) {
            _ = chmod(path, 0o600)
        }
    }

    /// A fresh 256-bit random value, base64url without padding.
    package static func randomToken() -> String { ProviderClient.base64URL(Data(Random.bytes(32))) }

    static func hash(_ secret: String) -> String { BLAKE2b256.hash(Array(secret.utf8)).description }

    // MARK: Sign-ins in progress

    /// Remembers a sign-in's nonce, PKCE verifier and return path under its `state`.
    package func beginSignIn(state: String, _ pending: PendingSignIn) throws {
        try database.write { db in
            try db.execute(
                sql: "DELETE FROM signIns WHERE created < ?", arguments: [Date().timeIntervalSince1970 - 600])
            try db.execute(
                sql: "INSERT INTO signIns (stateHash, nonce, verifier, returnTo, created) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    Self.hash(state), pending.nonce, pending.verifier, pending.returnTo,
                    pending.created.timeIntervalSince1970,
                ])
        }
    }

    /// Takes (once) the sign-in begun with `state`, if it is less than ten minutes old.
    package func takeSignIn(state: String, now: Date = Date()) throws -> PendingSignIn? {
        try database.write { db in
            let key = Self.hash(state)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT nonce, verifier, returnTo, created FROM signIns WHERE stateHash = ?",
                    arguments: [key])
            else { return nil }
            try db.execute(sql: "DELETE FROM signIns WHERE stateHash = ?", arguments: [key])
            let created = Date(timeIntervalSince1970: row["created"])
            guard now.timeIntervalSince(created) < 600 else { return nil }
            return PendingSignIn(
                nonce: row["nonce"], verifier: row["verifier"], returnTo: row["returnTo"], created: created)
        }
    }

    // MARK: Sessions

    /// Starts a session; returns its id (the cookie value) and the session. `replacing`, a session id
    /// the browser already held, is ended first.
    package func start(person: Person, roles: Set<Role>, idToken: String, replacing: String?, now: Date = Date())
        throws -> (id: String, session: Session)
    {
        let id = Self.randomToken()
        let hash = Self.hash(id)
        let session = Session(
            handle: String(hash.prefix(12)), person: person, roles: roles, csrf: Self.randomToken(), idToken: idToken,
            created: now, lastSeen: now)
        let personJSON = String(decoding: try JSONEncoder().encode(person), as: UTF8.self)
        try database.write { db in
            if let replacing {
                try db.execute(sql: "DELETE FROM sessions WHERE idHash = ?", arguments: [Self.hash(replacing)])
            }
            try db.execute(
                sql: "DELETE FROM sessions WHERE created < ?",
                arguments: [now.timeIntervalSince1970 - Double(absolute.components.seconds)])
            try db.execute(
                sql: """
                    INSERT INTO sessions (idHash, handle, person, roles, csrf, idToken, created, lastSeen)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    hash, session.handle, personJSON, roles.map(\.rawValue).sorted().joined(separator: ","),
                    session.csrf, idToken, now.timeIntervalSince1970, now.timeIntervalSince1970,
                ])
        }
        return (id, session)
    }

    /// Why a presented session id gives no session.
    package enum Lookup: Sendable {
        case active(Session)
        case unknown
        case idle
        case expired
    }

    /// The session for a cookie value; an idle or expired one is ended. Its last use is written at
    /// most once a minute (the idle timeout's precision), so a busy session costs a read, not a write.
    package func session(id: String, now: Date = Date()) throws -> Lookup {
        let hash = Self.hash(id)
        guard
            let row = try database.read({ db in
                try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE idHash = ?", arguments: [hash])
            })
        else { return .unknown }
        let created = Date(timeIntervalSince1970: row["created"])
        let lastSeen = Date(timeIntervalSince1970: row["lastSeen"])
        let expired = now.timeIntervalSince(created) >= Double(absolute.components.seconds)
        let idled = now.timeIntervalSince(lastSeen) >= Double(idle.components.seconds)
        if expired || idled {
            try database.write { db in try db.execute(sql: "DELETE FROM sessions WHERE idHash = ?", arguments: [hash]) }
            return expired ? .expired : .idle
        }
        if now.timeIntervalSince(lastSeen) >= 60 {
            try database.write { db in
                try db.execute(
                    sql: "UPDATE sessions SET lastSeen = ? WHERE idHash = ?",
                    arguments: [now.timeIntervalSince1970, hash])
            }
        }
        let person = try JSONDecoder().decode(Person.self, from: Data((row["person"] as String).utf8))
        let roles = Set((row["roles"] as String).split(separator: ",").compactMap { Role(rawValue: String($0)) })
        return .active(
            Session(
                handle: row["handle"], person: person, roles: roles, csrf: row["csrf"], idToken: row["idToken"],
                created: created, lastSeen: now))
    }

    /// Ends a session; returns it if it existed.
    @discardableResult
    package func end(id: String) throws -> Bool {
        try database.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE idHash = ?", arguments: [Self.hash(id)])
            return db.changesCount > 0
        }
    }

    /// Moves every session's start and last use back: the idle and absolute timeout tests open a
    /// running node's `access.sqlite` and age its sessions rather than wait.
    package func age(started: Duration, lastUsed: Duration) throws {
        try database.write { db in
            try db.execute(
                sql: "UPDATE sessions SET created = created - ?, lastSeen = lastSeen - ?",
                arguments: [Double(started.components.seconds), Double(lastUsed.components.seconds)])
        }
    }
}
