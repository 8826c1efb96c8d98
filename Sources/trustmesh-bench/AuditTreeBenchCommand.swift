import ArgumentParser
import Foundation
import Logging
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshPeer
import TrustMeshStore

/// Issue 15's measurements of the audit transparency log at scale: a log of a million entries in a
/// real catalogue, inclusion and consistency proofs built from it, the in-process share of the tree
/// in verification, and tree-head gossip among 150 trusts (idle, and every log growing every
/// interval) against the checkpoint entries it replaced. `Scripts/bench audit-tree` runs it, then
/// the real `trustmesh audit export`, `verify`, `prove` and `check-proof` on the same node.
struct AuditTreeBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit-tree",
        abstract: "Measure the audit log's Merkle tree at scale: appends, proofs, tree-head gossip.",
        discussion: """
            Fills a node's log (--data, e.g. one `trustmesh network create` wrote; by default a new \
            node in a temporary folder) to --entries with appendBatch, signs a tree head of it, times \
            inclusion and consistency proofs from the catalogue and checks them, and simulates \
            tree-head gossip among --trusts nodes with real catalogues, the real TreeHeadGossip \
            signing condition and real peer envelopes. Prints Markdown tables (Scripts/bench audit-tree).
            """
    )

    @Option(help: ArgumentHelp("A fresh node's data folder to fill; default: a temporary one.", valueName: "DIR"))
    var data: String?

    @Option(help: "Entries in the log once built (any already there count).")
    var entries = 1_000_000

    @Option(help: "Entries per append transaction.")
    var batch = 10_000

    @Option(
        help: ArgumentHelp(
            "Also write the log as JSON Lines with its tree heads (what `trustmesh audit export` writes), in process.",
            valueName: "FILE"))
    var export: String?

    @Option(help: "Random proofs of each kind.")
    var samples = 1_000

    @Option(help: "Time bound of each proof measurement, in seconds.")
    var seconds = 20.0

    @Option(help: "Trusts in the tree-head gossip simulation; 0 skips it.")
    var trusts = 150

    @Option(help: "Entries in each simulated trust's log before the simulation.")
    var gossipLog = 1_000

    @Option(help: "The gossip interval, in seconds (node run's default is 30).")
    var interval = 30

    @Option(help: "Entries each log gains per interval in the worst case.")
    var growth = 10

    @Option(help: "Measured intervals of the worst case (after one to settle).")
    var rounds = 4

    @Option(help: "Seed of the entries' contents and the random choices.")
    var seed: UInt64 = 15

    func run() async throws {
        guard entries >= 2, batch >= 1, samples >= 1, interval >= 1, growth >= 1, rounds >= 1 else {
            throw BenchError("--entries must be at least 2, and --batch, --samples, --interval, --growth, --rounds 1")
        }
        let temporary =
            FileManager.default.temporaryDirectory.path + "/trustmesh-audit-tree-"
            + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let node =
            if let data {
                try LocalNode(directory: data)
            } else {
                try LocalNode.create(directory: temporary + "/node", trust: TrustID("RRK"), name: "Bench")
            }
        var rng = SplitMix64(seed: seed)
        let log = try build(node)
        progress("audit-tree: proofs against the head of \(grouped(entries))…")
        let growthHashes = try proofs(node, log, rng: &rng)
        progress("audit-tree: decoding the whole log…")
        try memoryOfEntries(node, tree: log.tree)
        if trusts >= 2 {
            try await gossip(directory: temporary + "/gossip", growthHashesAtScale: growthHashes, rng: &rng)
        }
    }

    // MARK: The log

    /// What the build leaves for the later measurements.
    struct BuiltLog {
        var key: SigningKey
        var head: SignedTreeHead
        /// The same tree, in memory: the reference for the store's proofs.
        var tree: MerkleTree.InMemory
    }

    private func build(_ node: LocalNode) throws -> BuiltLog {
        let audit = node.store.audit
        let key = try node.signingKey()
        let trust = node.configuration.trust
        let existing = try audit.all()
        guard existing.count < min(batch, entries) else {
            throw BenchError("the log at --data already holds \(existing.count) entries: give a fresh node")
        }
        var tree = MerkleTree.InMemory()
        for entry in existing { tree.append(MerkleTree.leafHash(entry.canonicalBytes)) }
        var generator = AuditEntryGenerator(trust: trust, seed: seed)
        // A sample for the verification reference: hash, signature and link checks cost the same per
        // entry at any size, so a prefix gives the rate.
        let referenceCount = min(entries, 50_000)
        var reference = existing
        var batches: [(count: Int, seconds: Double)] = []
        var treeSeconds = 0.0
        var remaining = entries - existing.count
        let started = ContinuousClock.now
        progress("audit-tree: building a log of \(grouped(entries)) entries…")
        while remaining > 0 {
            guard elapsed(since: started) < 1_800 else { throw BenchError("the build took over 30 minutes") }
            let count = min(batch, remaining)
            let drafts = (0..<count).map { _ in generator.next() }
            let start = ContinuousClock.now
            let appended = try audit.appendBatch(drafts, key: key)
            batches.append((count, elapsed(since: start)))
            let treeStart = ContinuousClock.now
            for entry in appended { tree.append(MerkleTree.leafHash(entry.canonicalBytes)) }
            treeSeconds += elapsed(since: treeStart)
            if reference.count < referenceCount { reference += appended.prefix(referenceCount - reference.count) }
            remaining -= count
        }
        let buildSeconds = elapsed(since: started)

        // What TreeHeadGossip.signIfGrown reads every interval, then the head it would sign.
        var stateTimes: [Double] = []
        var state = try audit.treeState()
        for _ in 0..<5 {
            let start = ContinuousClock.now
            state = try audit.treeState()
            stateTimes.append(elapsed(since: start))
        }
        guard state.size == UInt64(entries), state.root == (try tree.root()) else {
            throw BenchError("the catalogue's tree (\(state.size) entries) differs from the one built in memory")
        }
        let head = SignedTreeHead.signed(
            trust: trust, treeSize: state.size, rootHash: state.root, time: CareTime.format(Date()), key: key)
        try audit.storeTreeHead(head)

        let tenth = max(1, batches.count / 10)
        func rate(_ part: ArraySlice<(count: Int, seconds: Double)>) -> String {
            let count = part.reduce(0) { $0 + $1.count }
            return grouped(Int(Double(count) / part.reduce(0) { $0 + $1.seconds })) + " entries/s"
        }
        let firstEnd = batches.prefix(tenth).reduce(existing.count) { $0 + $1.count }
        let lastStart = entries - batches.suffix(tenth).reduce(0) { $0 + $1.count } + 1
        print()
        print("| audit log of \(grouped(entries)) entries, appendBatch of \(grouped(batch)) per transaction | |")
        print("|---|---|")
        row(
            "append rate, entries 1–\(grouped(firstEnd)) (the reference: same code, small tree)",
            rate(batches.prefix(tenth)))
        print("| append rate, entries \(grouped(lastStart))–\(grouped(entries)) | \(rate(batches.suffix(tenth))) |")
        print("| whole build | \(rate(batches[...])), \(fixed(buildSeconds, 1)) s |")
        print("| slowest transaction | \(fixed(batches.map(\.seconds).max() ?? 0, 2)) s |")
        row(
            "`treeState()` (size and root; what signIfGrown reads every interval), median of 5",
            milliseconds(median(stateTimes)))

        try verificationReference(
            reference, key: key, treeSeconds: treeSeconds, total: existing.count + batches.reduce(0) { $0 + $1.count })
        return BuiltLog(key: key, head: head, tree: tree)
    }

    /// The parts of `audit verify`'s work, per entry, measured in process.
    private func verificationReference(_ sample: [AuditEntry], key: SigningKey, treeSeconds: Double, total: Int) throws
    {
        let verifying = key.verifyingKey
        var start = ContinuousClock.now
        _ = try AuditChain.verify(sample, key: verifying)
        let chain = elapsed(since: start) / Double(sample.count)
        start = ContinuousClock.now
        for entry in sample {
            let message = entry.canonicalBytes
            guard BLAKE2b256.hash(message) == entry.hash else { throw BenchError("entry #\(entry.sequence): bad hash") }
            try verifying.verify(entry.signature, for: message)
        }
        let raw = elapsed(since: start) / Double(sample.count)
        let tree = treeSeconds / Double(total)
        print()
        print("| verification, in process, per entry | µs per entry | × \(grouped(total)) entries |")
        print("|---|---|---|")
        row(
            "BLAKE2b-256 + Ed25519 verify only (first \(grouped(sample.count)) entries)", fixed(raw * 1e6, 1),
            "\(fixed(raw * Double(total), 1)) s (computed)")
        row(
            "`AuditChain.verify` (hash, signature, link, time + the in-memory tree), same entries",
            fixed(chain * 1e6, 1), "\(fixed(chain * Double(total), 1)) s (computed)")
        row(
            "the tree alone: leaf hash + `MerkleTree.InMemory.append`, all \(grouped(total)) entries",
            fixed(tree * 1e6, 2),
            "\(fixed(treeSeconds, 2)) s (measured): \(fixed(100 * tree / chain, 1))% of the chain verify")
    }

    // MARK: Proofs

    /// Times proofs against the head; returns the mean size in hashes of a proof of one interval's
    /// growth at this size, for the gossip figures.
    private func proofs(_ node: LocalNode, _ log: BuiltLog, rng: inout SplitMix64) throws -> Double {
        let audit = node.store.audit
        let head = log.head
        let size = head.treeSize
        let verifying = log.key.verifyingKey

        var build: [Double] = []
        var fetch: [Double] = []
        var memory: [Double] = []
        var check: [Double] = []
        var full: [Double] = []
        var hashes: [Int] = []
        var jsonBytes: [Int] = []
        var started = ContinuousClock.now
        for _ in 0..<samples where elapsed(since: started) < seconds {
            let sequence = UInt64.random(in: 1...size, using: &rng)
            var start = ContinuousClock.now
            let path = try audit.inclusionProof(sequence: sequence, size: size)
            build.append(elapsed(since: start))
            start = ContinuousClock.now
            guard let entry = try audit.after(sequence: sequence - 1, limit: 1).first else {
                throw BenchError("entry #\(sequence) is missing")
            }
            fetch.append(elapsed(since: start))
            start = ContinuousClock.now
            let inMemory = try log.tree.inclusionProof(index: sequence - 1, size: size)
            memory.append(elapsed(since: start))
            guard inMemory == path else { throw BenchError("the store's proof of #\(sequence) differs") }
            start = ContinuousClock.now
            let holds = MerkleTree.verifyInclusion(
                leaf: MerkleTree.leafHash(entry.canonicalBytes), index: sequence - 1, size: size, proof: path,
                root: head.rootHash)
            check.append(elapsed(since: start))
            guard holds else { throw BenchError("the proof of #\(sequence) does not verify") }
            let proof = InclusionProof(entry: entry, treeHead: head, path: path)
            start = ContinuousClock.now
            try proof.verify(key: verifying)
            full.append(elapsed(since: start))
            hashes.append(path.count)
            jsonBytes.append(try proof.json().count)
        }
        let inclusionCount = build.count
        print()
        row(
            "inclusion proofs, \(inclusionCount) random entries against the head of \(grouped(Int(size)))", "mean",
            "p50",
            "p99")
        print("|---|---|---|---|")
        printTimes("build from the catalogue (`AuditTable.inclusionProof`)", build)
        printTimes("fetch the entry (`AuditTable.after(sequence:limit: 1)`)", fetch)
        printTimes("build from the in-memory tree (reference: no SQLite)", memory)
        printTimes("check the path (`MerkleTree.verifyInclusion`)", check)
        printTimes(
            "check the whole proof (`InclusionProof.verify`: entry hash and signature, head signature, path)", full)
        printSizes("size, hashes", hashes)
        printSizes("size, bytes of `trustmesh audit prove`'s JSON", jsonBytes)

        // Consistency: random pairs from the catalogue; then one interval's growth near the top
        // (what gossip sends), sized from the in-memory tree (the same proofs, as checked here).
        var consistencyBuild: [Double] = []
        var roots: [Double] = []
        var consistencyMemory: [Double] = []
        var consistencyCheck: [Double] = []
        var consistencyHashes: [Int] = []
        var consistencyBytes: [Int] = []
        started = ContinuousClock.now
        for _ in 0..<samples where elapsed(since: started) < seconds {
            let new = UInt64.random(in: 2...size, using: &rng)
            let old = UInt64.random(in: 1...(new - 1), using: &rng)
            var start = ContinuousClock.now
            let proof = try audit.consistencyProof(from: old, to: new)
            consistencyBuild.append(elapsed(since: start))
            start = ContinuousClock.now
            let oldRoot = try audit.treeRoot(size: old)
            let newRoot = try audit.treeRoot(size: new)
            roots.append(elapsed(since: start))
            start = ContinuousClock.now
            let inMemory = try log.tree.consistencyProof(from: old, to: new)
            consistencyMemory.append(elapsed(since: start))
            guard inMemory == proof, oldRoot == (try log.tree.root(size: old)) else {
                throw BenchError("the store's consistency proof \(old)→\(new) differs")
            }
            start = ContinuousClock.now
            let holds = MerkleTree.verifyConsistency(
                oldSize: old, newSize: new, oldRoot: oldRoot, newRoot: newRoot, proof: proof)
            consistencyCheck.append(elapsed(since: start))
            guard holds else { throw BenchError("the consistency proof \(old)→\(new) does not verify") }
            consistencyHashes.append(proof.count)
            consistencyBytes.append(try JSONEncoder().encode(GossipOwnProof(from: old, to: new, hashes: proof)).count)
        }
        var growthHashes: [Int] = []
        var growthBytes: [Int] = []
        for _ in 0..<samples {
            let new = UInt64.random(in: (size / 2 + UInt64(growth))...size, using: &rng)
            let proof = try log.tree.consistencyProof(from: new - UInt64(growth), to: new)
            growthHashes.append(proof.count)
            growthBytes.append(
                try JSONEncoder().encode(GossipOwnProof(from: new - UInt64(growth), to: new, hashes: proof)).count)
        }
        print()
        row(
            "consistency proofs, \(consistencyBuild.count) random pairs 1 ≤ m < n ≤ \(grouped(Int(size)))", "mean",
            "p50", "p99")
        print("|---|---|---|---|")
        printTimes("build from the catalogue (`AuditTable.consistencyProof`)", consistencyBuild)
        printTimes("both roots from the catalogue (`AuditTable.treeRoot` × 2; a checker holds them as heads)", roots)
        printTimes("build from the in-memory tree (reference: no SQLite)", consistencyMemory)
        printTimes("check (`MerkleTree.verifyConsistency`)", consistencyCheck)
        printSizes("size, hashes", consistencyHashes)
        printSizes("size, bytes of the JSON gossip sends (`{\"from\",\"to\",\"hashes\"}`)", consistencyBytes)
        printSizes(
            "one interval's growth: n − m = \(growth), \(growthHashes.count) random n ≥ \(grouped(Int(size / 2))), "
                + "hashes",
            growthHashes)
        printSizes("one interval's growth: bytes of that JSON", growthBytes)
        return growthHashes.isEmpty ? 0 : Double(growthHashes.reduce(0, +)) / Double(growthHashes.count)
    }

    /// What a whole log costs in memory once decoded, as `audit verify` holds it: the entries
    /// (measured: resident memory before and after decoding them all) and the in-memory tree.
    private func memoryOfEntries(_ node: LocalNode, tree: MerkleTree.InMemory) throws {
        let before = residentBytes()
        let start = ContinuousClock.now
        let all = try node.store.audit.all()
        let decode = elapsed(since: start)
        let after = residentBytes()
        let treeBytes = Int(2 * tree.size) * Digest256.byteCount
        var exported = ""
        if let export {
            let start = ContinuousClock.now
            let trust = node.configuration.trust
            let heads = try node.store.audit.treeHeads().map { HeldTreeHead(heldBy: trust, treeHead: $0) }
            let bytes = try AuditExport(entries: all, treeHeads: heads).jsonLines()
            try Data(bytes).write(to: URL(fileURLWithPath: export), options: [.withoutOverwriting])
            exported =
                "| the same entries written as JSON Lines with the tree heads (`AuditExport.jsonLines`, what `audit "
                + "export` writes, without its audit entry and its own verify pass) | \(megabytes(bytes.count)) in "
                + "\(fixed(elapsed(since: start), 1)) s |"
        }
        print()
        print("| memory of the whole log in process | |")
        print("|---|---|")
        print(
            "| \(grouped(all.count)) decoded `AuditEntry` values (`AuditTable.all()`, \(fixed(decode, 1)) s): resident "
                + "memory before → after | \(megabytes(before)) → \(megabytes(after)): "
                + "\(grouped((after - before) / max(1, all.count))) bytes per entry |")
        print("| `MerkleTree.InMemory` of them (2 hashes of 32 bytes per leaf, computed) | \(megabytes(treeBytes)) |")
        if !exported.isEmpty { print(exported) }
    }

    // MARK: Tree-head gossip

    /// One simulated trust: a real node (catalogue, keys) and the real `TreeHeadGossip` that decides
    /// when it signs; what it sends and how peers witness it mirror `TreeHeadGossip`'s rules.
    final class SimulatedTrust {
        let trust: TrustID
        let node: LocalNode
        let key: SigningKey
        let gossip: TreeHeadGossip
        let client: PeerClient
        var generator: AuditEntryGenerator
        /// Heads to deliver, per peer: the newest per trust (TreeHeadGossip's outbox).
        var outbox: [TrustID: [TrustID: SignedTreeHead]] = [:]
        /// The size of this trust's newest head each peer acknowledged.
        var acknowledged: [TrustID: UInt64] = [:]
        /// The heads held of other trusts, by size (the newest 32, as AuditTable keeps).
        var held: [TrustID: [UInt64: Digest256]] = [:]
        var bytesSent = 0
        var requestsSent = 0

        init(trust: TrustID, node: LocalNode, key: SigningKey, gossip: TreeHeadGossip, client: PeerClient, seed: UInt64)
        {
            self.trust = trust
            self.node = node
            self.key = key
            self.gossip = gossip
            self.client = client
            generator = AuditEntryGenerator(trust: trust, seed: seed)
        }

        func hold(_ head: SignedTreeHead) {
            held[head.trust, default: [:]][head.treeSize] = head.rootHash
            if let sizes = held[head.trust], sizes.count > AuditTable.treeHeadHistory {
                held[head.trust]?[sizes.keys.min()!] = nil
            }
        }

        func queue(_ head: SignedTreeHead, to peers: some Sequence<TrustID>) {
            for peer in peers {
                if let queued = outbox[peer]?[head.trust], queued.treeSize >= head.treeSize { continue }
                outbox[peer, default: [:]][head.trust] = head
            }
        }
    }

    /// Counts of the simulated traffic.
    struct Traffic {
        var messages = 0
        var heads = 0
        var proofHashes = 0
        var proofs = 0
        var requestBytes = 0
        var responseBytes = 0
        var consistencyRequests = 0
    }

    private func gossip(directory: String, growthHashesAtScale: Double, rng: inout SplitMix64) async throws {
        progress("audit-tree: \(trusts) simulated trusts, \(grouped(gossipLog)) entries each…")
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        guard trusts <= alphabet.count * alphabet.count else { throw BenchError("at most 1,296 trusts") }
        var nodes: [LocalNode] = []
        for index in 0..<trusts {
            let code = try TrustID(
                "R" + String(alphabet[index / alphabet.count]) + String(alphabet[index % alphabet.count]))
            nodes.append(
                try LocalNode.create(directory: directory + "/" + code.code, trust: code, name: "Trust \(code)"))
        }
        // Addresses are never dialled: nothing here goes over HTTP.
        let topology = Topology(
            name: "audit-tree bench",
            trusts: nodes.enumerated().map { index, node in
                Topology.Trust(
                    ods: node.configuration.trust, name: node.configuration.name,
                    address: "127.0.0.1:\(30_000 + index)",
                    signingKey: node.configuration.signingPublicKey, agreementKey: node.configuration.agreementPublicKey
                )
            })
        var logger = Logger(label: "trustmesh-bench.audit-tree")
        logger.logLevel = .critical
        let keyring = PinnedKeyring(
            Dictionary(uniqueKeysWithValues: nodes.map { ($0.configuration.trust, $0.configuration.signingPublicKey) }))
        var sims: [SimulatedTrust] = []
        for (index, node) in nodes.enumerated() {
            let key = try node.signingKey()
            let client = PeerClient(
                me: node.configuration.trust, signing: key, agreement: try node.agreementKey(), topology: topology)
            let gossip = TreeHeadGossip(
                node: node, keyring: keyring, client: client, interval: .seconds(interval), logger: logger)
            sims.append(
                SimulatedTrust(
                    trust: node.configuration.trust, node: node, key: key, gossip: gossip, client: client,
                    seed: seed &+ UInt64(index) &+ 1))
        }
        var failure: (any Error)?
        do {
            try simulate(sims, topology: topology, growthHashesAtScale: growthHashesAtScale, rng: &rng)
        } catch {
            failure = error
        }
        // Every HTTP client must be shut down (none ever sent a request).
        for sim in sims { try await sim.client.shutdown() }
        if let failure { throw failure }
    }

    /// The idle hour and the worst case, on the simulated trusts; prints the table.
    private func simulate(
        _ sims: [SimulatedTrust], topology: Topology, growthHashesAtScale: Double, rng: inout SplitMix64
    ) throws {
        for sim in sims {
            try sim.node.store.audit.appendBatch((0..<gossipLog).map { _ in sim.generator.next() }, key: sim.key)
        }
        let peersOf = Dictionary(
            uniqueKeysWithValues: sims.map { sim in (sim.trust, sims.map(\.trust).filter { $0 != sim.trust }) })
        let byTrust = Dictionary(uniqueKeysWithValues: sims.map { ($0.trust, $0) })
        let intervalsPerHour = 3600 / interval

        // The last interval in which every log grew: each node signs (the real signIfGrown), and
        // every peer holds every head, as after a delivered round.
        var heads: [TrustID: SignedTreeHead] = [:]
        for sim in sims {
            guard let head = sim.gossip.signIfGrown() else { throw BenchError("\(sim.trust) signed no head") }
            heads[sim.trust] = head
        }
        for sim in sims {
            for (trust, head) in heads where trust != sim.trust { sim.hold(head) }
            for peer in peersOf[sim.trust]! { sim.acknowledged[peer] = heads[sim.trust]!.treeSize }
        }

        // Idle: an hour of intervals in which no log grows. Each node runs the real signing condition.
        let entriesBefore = try sims.reduce(0) { $0 + (try $1.node.store.audit.count()) }
        var signedIdle = 0
        var idleCalls = 0
        let idleStart = ContinuousClock.now
        for _ in 0..<intervalsPerHour where elapsed(since: idleStart) < 300 {
            for sim in sims {
                if sim.gossip.signIfGrown() != nil { signedIdle += 1 }
                idleCalls += 1
            }
        }
        let idleSeconds = elapsed(since: idleStart)
        let entriesAfter = try sims.reduce(0) { $0 + (try $1.node.store.audit.count()) }

        progress("audit-tree: the worst case, every log growing every interval…")
        // Worst case: every log grows every interval.
        let respondedEmpty = try responseBytes(payload: Array("{}".utf8), to: topology.trusts[0], key: sims[1].key)
        var measured = Traffic()
        var measuredRounds = 0
        let worstStart = ContinuousClock.now
        for round in 0...rounds where elapsed(since: worstStart) < 300 {
            var traffic = Traffic()
            for sim in sims {
                try sim.node.store.audit.appendBatch((0..<growth).map { _ in sim.generator.next() }, key: sim.key)
                guard let head = sim.gossip.signIfGrown() else { throw BenchError("\(sim.trust) signed no head") }
                sim.queue(head, to: peersOf[sim.trust]!)
            }
            for sim in sims.shuffled(using: &rng) {
                try deliver(
                    from: sim, byTrust: byTrust, peersOf: peersOf, topology: topology, emptyResponse: respondedEmpty,
                    traffic: &traffic, rng: &rng)
            }
            if round > 0 {
                measuredRounds += 1
                measured.messages += traffic.messages
                measured.heads += traffic.heads
                measured.proofHashes += traffic.proofHashes
                measured.proofs += traffic.proofs
                measured.requestBytes += traffic.requestBytes
                measured.responseBytes += traffic.responseBytes
                measured.consistencyRequests += traffic.consistencyRequests
            }
        }
        guard measuredRounds > 0 else { throw BenchError("no worst-case interval finished within 5 minutes") }

        // The design it replaced (437128e, CheckpointPublisher), from measured sizes: every interval
        // each node's log had grown (by the checkpoint entries of the interval before), so it signed a
        // checkpoint, wrote it as an entry and sent it to every peer; each peer wrote an entry for it.
        let origin = sims[0]
        let receiver = sims[1]
        let checkpoint = AuditCheckpoint.signed(
            trust: origin.trust, sequence: UInt64(gossipLog), headHash: try origin.node.store.audit.head()!.hash,
            time: CareTime.format(Date()), key: origin.key)
        let checkpointRequest = try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/audit/checkpoint", payload: Array(try JSONEncoder().encode(checkpoint)),
            from: origin.trust, key: origin.key, to: topology.trust(receiver.trust)!)
        let checkpointMessage = wireBytes(checkpointRequest) + respondedEmpty
        let ownEntry = try checkpointEntryBytes(checkpoint, in: origin, actor: "node")
        let peerEntry = try checkpointEntryBytes(checkpoint, in: receiver, actor: "peer \(origin.trust.code)")
        let peers = trusts - 1
        let oldEntriesPerHour = intervalsPerHour * trusts
        let oldLogBytesPerHour = intervalsPerHour * (ownEntry + peers * peerEntry)
        let oldBytesPerHour = intervalsPerHour * peers * checkpointMessage

        let perNodeRound = { (value: Int) in Double(value) / Double(trusts * measuredRounds) }
        let newBytesPerHour = perNodeRound(measured.requestBytes + measured.responseBytes) * Double(intervalsPerHour)
        let proofsPerNodeHour = perNodeRound(measured.proofs) * Double(intervalsPerHour)
        let simProofHashes = measured.proofs == 0 ? 0 : Double(measured.proofHashes) / Double(measured.proofs)
        let hashBytes =
            try JSONEncoder().encode([Digest256](repeating: heads.values.first!.rootHash, count: 2)).count
            - (try JSONEncoder().encode([heads.values.first!.rootHash]).count)
        let atScale = newBytesPerHour + proofsPerNodeHour * (growthHashesAtScale - simProofHashes) * Double(hashBytes)
        let headMessage = perNodeRound(measured.requestBytes) / max(1, perNodeRound(measured.messages))

        let messagesPerHour = Int(perNodeRound(measured.messages) * Double(intervalsPerHour))
        let headsPerMessage = Double(measured.heads) / Double(max(1, measured.messages))
        print()
        row(
            "tree-head gossip, \(trusts) trusts, \(interval) s interval, per node per hour", "entries added to its log",
            "messages sent", "bytes sent (requests + answers)", "how")
        print("|---|---|---|---|---|")
        row(
            "**new: idle** (no log grows)", "\(entriesAfter - entriesBefore)", "\(signedIdle)",
            signedIdle == 0 ? "0" : "n/a",
            "measured: \(grouped(idleCalls)) calls of the real `TreeHeadGossip.signIfGrown` on \(trusts) real "
                + "catalogues (\(intervalsPerHour) intervals, \(fixed(idleSeconds, 1)) s) signed \(signedIdle) heads; "
                + "with none signed or accepted nothing is queued, and `deliver` returns before any request")
        row(
            "old: checkpoints (437128e), idle",
            "\(grouped(oldEntriesPerHour)) (\(grouped(oldEntriesPerHour * 24)) a day), "
                + "\(megabytes(oldLogBytesPerHour)) of entry JSON",
            grouped(intervalsPerHour * peers), megabytes(oldBytesPerHour),
            "computed: \(intervalsPerHour) intervals × (1 own + \(peers) peers' checkpoint entries of "
                + "\(ownEntry)/\(peerEntry) B; \(peers) messages of \(checkpointMessage) B, measured)")
        row(
            "new: worst case, every log grows every interval (logs of ~\(grouped(gossipLog)) entries)",
            "0 (only the \(growth) entries of the growth itself)", grouped(messagesPerHour),
            megabytes(Int(newBytesPerHour)),
            "measured over \(measuredRounds) simulated intervals: real heads, proofs and sealed envelopes; "
                + "\(fixed(headsPerMessage, 2)) heads and a \(fixed(simProofHashes, 1))-hash proof per message of "
                + "\(grouped(Int(headMessage))) B, \(measured.consistencyRequests) proof requests")
        row(
            "new: worst case, logs of \(grouped(entries)) entries", "0", "same", megabytes(Int(atScale)),
            "computed: the above with the \(fixed(growthHashesAtScale, 1))-hash proofs measured at that size "
                + "(\(hashBytes) B a hash)")
        print()
        print(
            "Message sizes are the bytes `PeerEnvelope.seal` gives (sealed body + TrustMesh-* headers) plus "
                + "`Content-Type`, and the answer's sealed `{}` + signature header (\(respondedEmpty) B); HTTP and TCP "
                + "framing are not counted. The old design's \(grouped(oldEntriesPerHour * 24)) entries a day at "
                + "\(trusts) trusts (\(grouped(24 * intervalsPerHour * 5)) at 5) is the issue's figure.")
    }

    /// Sends each peer what `sim` has queued for it (TreeHeadGossip.deliver), and has the peer
    /// witness it (TreeHeadGossip.receive / witnessLocally / witness / accept).
    private func deliver(
        from sim: SimulatedTrust, byTrust: [TrustID: SimulatedTrust], peersOf: [TrustID: [TrustID]],
        topology: Topology, emptyResponse: Int, traffic: inout Traffic, rng: inout SplitMix64
    ) throws {
        var proofs: [UInt64: [Digest256]] = [:]
        for (peer, queued) in sim.outbox.sorted(by: { $0.key < $1.key }) where !queued.isEmpty {
            let sorted = queued.values.sorted { ($0.trust, $0.treeSize) < ($1.trust, $1.treeSize) }
            var proof: GossipOwnProof?
            if let own = queued[sim.trust], let from = sim.acknowledged[peer], from > 0, from < own.treeSize {
                if proofs[from] == nil {
                    proofs[from] = try sim.node.store.audit.consistencyProof(from: from, to: own.treeSize)
                }
                proof = GossipOwnProof(from: from, to: own.treeSize, hashes: proofs[from]!)
            }
            let payload = Array(try JSONEncoder().encode(GossipHeadsMessage(heads: sorted, proof: proof)))
            let request = try PeerEnvelope.seal(
                method: "POST", path: TreeHeadGossip.headsPath, payload: payload, from: sim.trust, key: sim.key,
                to: topology.trust(peer)!)
            traffic.messages += 1
            traffic.heads += sorted.count
            if let proof {
                traffic.proofs += 1
                traffic.proofHashes += proof.hashes.count
            }
            traffic.requestBytes += wireBytes(request)
            traffic.responseBytes += emptyResponse
            let receiver = byTrust[peer]!
            for head in sorted {
                try witness(
                    head, at: receiver, from: sim.trust, proof: head.trust == sim.trust ? proof : nil,
                    byTrust: byTrust, peersOf: peersOf, topology: topology, traffic: &traffic, rng: &rng)
            }
            if let own = queued[sim.trust] { sim.acknowledged[peer] = max(sim.acknowledged[peer] ?? 0, own.treeSize) }
            sim.outbox[peer] = nil
        }
    }

    private func witness(
        _ head: SignedTreeHead, at receiver: SimulatedTrust, from sender: TrustID, proof: GossipOwnProof?,
        byTrust: [TrustID: SimulatedTrust], peersOf: [TrustID: [TrustID]], topology: Topology, traffic: inout Traffic,
        rng: inout SplitMix64
    ) throws {
        guard head.trust != receiver.trust else { return }
        let held = receiver.held[head.trust] ?? [:]
        guard held[head.treeSize] == nil else { return }
        if let (latest, latestRoot) = held.max(by: { $0.key < $1.key }) {
            if let proof, proof.from == latest, head.treeSize > latest {
                guard
                    MerkleTree.verifyConsistency(
                        oldSize: latest, newSize: head.treeSize, oldRoot: latestRoot, newRoot: head.rootHash,
                        proof: proof.hashes)
                else { throw BenchError("a consistency proof of \(head.trust) failed") }
            } else {
                // The origin is asked for a proof (POST /peer/v1/audit/consistency).
                let (old, new) = head.treeSize < latest ? (head.treeSize, latest) : (latest, head.treeSize)
                let origin = byTrust[head.trust]!
                let request = try PeerEnvelope.seal(
                    method: "POST", path: TreeHeadGossip.consistencyPath,
                    payload: Array(try JSONEncoder().encode(GossipConsistencyRequest(from: old, to: new))),
                    from: receiver.trust, key: receiver.key, to: topology.trust(head.trust)!)
                let answer = GossipConsistencyResponse(
                    proof: try origin.node.store.audit.consistencyProof(from: old, to: new))
                traffic.consistencyRequests += 1
                traffic.requestBytes += wireBytes(request)
                traffic.responseBytes += try responseBytes(
                    payload: Array(try JSONEncoder().encode(answer)), to: topology.trust(receiver.trust)!,
                    key: origin.key)
            }
        }
        receiver.hold(head)
        let candidates = peersOf[receiver.trust]!.filter { $0 != head.trust && $0 != sender }
        receiver.queue(head, to: candidates.shuffled(using: &rng).prefix(TreeHeadGossip.fanout))
    }

    /// The bytes of a request as sent: the sealed body, the envelope's headers and `Content-Type`.
    private func wireBytes(_ request: PeerEnvelope.Request) -> Int {
        request.body.count + request.headers.reduce(0) { $0 + $1.key.utf8.count + 2 + $1.value.utf8.count + 2 }
            + "Content-Type: application/octet-stream\r\n".utf8.count
    }

    /// The bytes of an answer: `payload` sealed to the asker, and the responder's signature header.
    private func responseBytes(payload: [UInt8], to asker: Topology.Trust, key: SigningKey) throws -> Int {
        guard let agreement = asker.agreementKey else { throw BenchError("\(asker.ods) has no agreement key") }
        let body = agreement.seal(payload)
        let signature = key.sign(body)
        return body.count + PeerEnvelope.signatureHeader.utf8.count + 2 + signature.base64.utf8.count + 2
    }

    /// The stored size (JSON, as appendBatch writes it) of the `checkpoint` entry the old design
    /// wrote for `checkpoint` in `sim`'s log.
    private func checkpointEntryBytes(_ checkpoint: AuditCheckpoint, in sim: SimulatedTrust, actor: String) throws
        -> Int
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let details = String(decoding: try encoder.encode(checkpoint), as: UTF8.self)
        let draft = AuditEntry.Draft(
            trust: sim.trust, time: CareTime.format(Date()), kind: .checkpoint, actor: actor,
            subject: [
                .peer: checkpoint.trust.code, .sequence: "\(checkpoint.sequence)", .headHash: checkpoint.headHash.hex,
                .actorKind: "system",
            ],
            details: details)
        let entry = draft.sealed(previous: try sim.node.store.audit.head(), key: sim.key)
        return try JSONEncoder().encode(entry).count
    }

    // MARK: Printing

    /// Prints one Markdown table row.
    private func row(_ cells: String...) { print("| " + cells.joined(separator: " | ") + " |") }

    private func printTimes(_ label: String, _ values: [Double]) {
        guard !values.isEmpty else { return }
        let sorted = values.sorted()
        let mean = values.reduce(0, +) / Double(values.count)
        let p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
        print("| \(label) | \(milliseconds(mean)) | \(milliseconds(median(values))) | \(milliseconds(p99)) |")
    }

    private func printSizes(_ label: String, _ values: [Int]) {
        guard !values.isEmpty else { return }
        let mean = Double(values.reduce(0, +)) / Double(values.count)
        row(
            label, fixed(mean, 1), grouped(values.sorted()[values.count / 2]),
            "min \(grouped(values.min()!)), max \(grouped(values.max()!))")
    }
}

/// TreeHeadGossip's own message types, so their sizes are those the node sends.
typealias GossipHeadsMessage = TreeHeadGossip.HeadsMessage
typealias GossipOwnProof = TreeHeadGossip.OwnProof
typealias GossipConsistencyRequest = TreeHeadGossip.ConsistencyRequest
typealias GossipConsistencyResponse = TreeHeadGossip.ConsistencyResponse

/// Entries like a busy node's log: queries and page views by signed-in clinicians, fetches served
/// and received, ingests and records received by gossip, with the subjects the node writes.
struct AuditEntryGenerator {
    let trust: TrustID
    private var rng: SplitMix64
    private var clock: Int64 = 1_798_761_600  // 2027-01-01T00:00:00Z
    private var counter = 0
    private let patients: [String]
    /// This trust's arc for the studies' UIDs.
    private let studyRoot: String
    private let people: [[AuditEntry.SubjectKey: String]]
    private let names: [String]
    private let peers = ["RQ3", "RXK", "RNA", "RL4", "RBK", "RJC", "RLQ", "RYW", "RKB", "RWP", "RJE", "RLT", "RRJ"]

    init(trust: TrustID, seed: UInt64) {
        self.trust = trust
        var rng = SplitMix64(seed: seed)
        var patients: [String] = []
        while patients.count < 2_000 {
            let digits = (0..<9).map { _ in Int.random(in: 0...9, using: &rng) }
            let sum = digits.enumerated().reduce(0) { $0 + $1.element * (10 - $1.offset) }
            let check = (11 - sum % 11) % 11
            if check == 10 { continue }
            patients.append(digits.map(String.init).joined() + String(check))
        }
        let first = ["Priya", "James", "Aisha", "Tom", "Fatima", "Oliver", "Grace", "Mohammed", "Chloe", "David"]
        let last = ["Shah", "Patel", "Jones", "Khan", "Smith", "Williams", "Brown", "Taylor", "Evans", "Ahmed"]
        var people: [[AuditEntry.SubjectKey: String]] = []
        var names: [String] = []
        for index in 0..<60 {
            names.append("Dr \(first[index % first.count]) \(last[(index / first.count + index) % last.count])")
            people.append([
                .actorKind: "person", .actorIssuer: "https://login.\(trust.code.lowercased()).nhs.uk",
                .actorSubject: hex(rng.next() & 0xffff_ffff, 8) + "-" + hex(rng.next() & 0xffff, 4) + "-4"
                    + hex(rng.next() & 0xfff, 3) + "-8" + hex(rng.next() & 0xfff, 3) + "-"
                    + hex(rng.next() & 0xffff_ffff_ffff, 12),
                .actorRole: ["R8000", "R8003", "R0260", "R8008"][index % 4], .actorOrganisation: trust.code,
                .actorRegistration: "GMC\(7_000_000 + index * 7_919)",
            ])
        }
        self.rng = rng
        self.patients = patients
        studyRoot = "1.2.826.0.1.3680043.10.\(trust.code.utf8.reduce(0) { $0 &* 31 &+ Int($1) } % 1000)"
        self.people = people
        self.names = names
    }

    mutating func next() -> AuditEntry.Draft {
        counter += 1
        clock += Int64.random(in: 1...20, using: &rng)
        let time = CareTime.format(unixSeconds: clock)
        let patient = patients[Int.random(in: 0..<patients.count, using: &rng)]
        let study = studyRoot + ".\(Int.random(in: 1...400_000, using: &rng))"
        let peer = peers[Int.random(in: 0..<peers.count, using: &rng)]
        let transfer = hex(rng.next(), 16)
        let person = Int.random(in: 0..<people.count, using: &rng)
        let session = hex(rng.next() & 0xffff_ffff, 8)
        let bytes = "\(Int.random(in: 20_000_000...400_000_000, using: &rng))"
        let roll = Int.random(in: 0..<100, using: &rng)
        func byPerson(_ kind: AuditEntry.Kind, _ subject: [AuditEntry.SubjectKey: String], details: String? = nil)
            -> AuditEntry.Draft
        {
            AuditEntry.Draft(
                trust: trust, time: time, kind: kind, actor: names[person],
                subject: subject.merging(people[person]) { $1 }.merging([.session: session]) { $1 }, details: details)
        }
        func bySystem(_ kind: AuditEntry.Kind, _ actor: String, _ subject: [AuditEntry.SubjectKey: String])
            -> AuditEntry.Draft
        {
            AuditEntry.Draft(
                trust: trust, time: time, kind: kind, actor: actor,
                subject: subject.merging([.actorKind: "system"]) { $1 })
        }
        switch roll {
        case 0..<30: return byPerson(.query, [.nhsNumber: patient])
        case 30..<50: return byPerson(.view, [.nhsNumber: patient, .studyUID: study], details: "study page")
        case 50..<60:
            return byPerson(
                .fetchRequested, [.nhsNumber: patient, .studyUID: study, .peer: peer, .transferID: transfer])
        case 60..<70:
            return bySystem(
                .fetchServed, "peer \(peer)",
                [
                    .nhsNumber: patient, .studyUID: study, .peer: peer, .transferID: transfer, .bytes: bytes,
                    .chunks: "\(Int.random(in: 40...900, using: &rng))",
                ])
        case 70..<80:
            return bySystem(
                .fetchCompleted, "node",
                [
                    .studyUID: study, .peer: peer, .transferID: transfer, .bytes: bytes,
                    .instances: "\(Int.random(in: 1...900, using: &rng))",
                ])
        case 80..<85:
            return bySystem(
                .ingest, "operating-system user pacs (local operator)",
                [
                    .nhsNumber: patient, .studyUID: study, .instances: "\(Int.random(in: 1...900, using: &rng))",
                    .bytes: bytes,
                ])
        default:
            return bySystem(
                .recordReceived, "gossip",
                [.origin: peer, .recordSequence: "\(counter)", .recordKind: "study", .studyUID: study])
        }
    }
}

// MARK: Helpers

private func elapsed(since start: ContinuousClock.Instant) -> Double {
    let elapsed = (ContinuousClock.now - start).components
    return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
}

private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

private func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

private func milliseconds(_ seconds: Double) -> String {
    seconds < 1e-3 ? fixed(seconds * 1e6, 1) + " µs" : fixed(seconds * 1e3, 2) + " ms"
}

private func megabytes(_ bytes: Int) -> String { fixed(Double(bytes) / 1e6, 1) + " MB" }

private func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
        out.append(digit)
    }
    return (value < 0 ? "-" : "") + out
}

/// This process's resident memory (VmRSS in /proc/self/status), in bytes.
private func residentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kilobytes * 1024
}

/// Progress goes to standard error; the tables to standard output.
private func progress(_ line: String) {
    FileHandle.standardError.write(Data("[\(fixed(elapsed(since: processStart), 1)) s] \(line)\n".utf8))
}

private let processStart = ContinuousClock.now

/// `value` in lower-case hex, zero-padded to `width` digits.
private func hex(_ value: UInt64, _ width: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
