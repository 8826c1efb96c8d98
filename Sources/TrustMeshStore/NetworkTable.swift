import Foundation
import GRDB
package import TrustMeshModel

/// The signed network statements this node holds — membership versions, key certificates, key
/// revocations — in the catalogue's SQLite file, append-only. A command run with `--data` while
/// the node runs (`keys rotate`, `keys revoke`, `membership submit`) adds rows here; the running
/// node picks them up on its next network round (``statements(after:)``), and whatever gossip
/// brings is added too, so a restart starts from everything ever believed.
///
/// Rows are not trusted by being here: the node re-applies every one through its
/// `NetworkDirectory`, which checks signatures and succession.
package final class NetworkTable: Sendable {
    let pool: DatabasePool

    init(pool: DatabasePool) { self.pool = pool }

    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v12: network statements") { db in
            try db.execute(
                sql: """
                    CREATE TABLE networkStatement (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        kind TEXT NOT NULL,              -- membership, certificate, revocation
                        body TEXT NOT NULL UNIQUE,       -- the signed statement, JSON (sorted keys)
                        addedAt TEXT NOT NULL
                    );
                    """
            )
        }
    }

    /// Adds the statements of `state` not already held.
    /// - Returns: How many were new.
    @discardableResult
    package func add(_ state: NetworkDirectory.State) throws -> Int {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var rows: [(String, String)] = []
        for membership in state.memberships {
            rows.append(("membership", String(decoding: try encoder.encode(membership), as: UTF8.self)))
        }
        for certificate in state.certificates {
            rows.append(("certificate", String(decoding: try encoder.encode(certificate), as: UTF8.self)))
        }
        for revocation in state.revocations {
            rows.append(("revocation", String(decoding: try encoder.encode(revocation), as: UTF8.self)))
        }
        let now = Timestamp.text(Date())
        return try pool.write { db in
            var added = 0
            for (kind, body) in rows {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO networkStatement (kind, body, addedAt) VALUES (?, ?, ?)",
                    arguments: [kind, body, now])
                added += db.changesCount
            }
            return added
        }
    }

    /// The statements added after row `after`, and the last row's id (`after` if none).
    /// - Throws: A database error, or a decoding error for a row that is not a statement.
    package func statements(after: Int64 = 0) throws -> (state: NetworkDirectory.State, last: Int64) {
        try pool.read { db in
            var state = NetworkDirectory.State()
            var last = after
            let decoder = JSONDecoder()
            for row in try Row.fetchAll(
                db, sql: "SELECT id, kind, body FROM networkStatement WHERE id > ? ORDER BY id", arguments: [after])
            {
                let id: Int64 = row["id"]
                let kind: String = row["kind"]
                let body = Data((row["body"] as String).utf8)
                switch kind {
                case "membership": state.memberships.append(try decoder.decode(SignedMembership.self, from: body))
                case "certificate": state.certificates.append(try decoder.decode(KeyCertificate.self, from: body))
                case "revocation": state.revocations.append(try decoder.decode(KeyRevocation.self, from: body))
                default: break
                }
                last = id
            }
            return (state, last)
        }
    }
}
