import Foundation
import Logging
import NIOCore
import Synchronization
import TrustMeshDICOM

/// Carries out an ``AssociationStateMachine``'s actions for one connection: writes PDUs, arms the
/// timer, streams C-STORE data sets to a file and serves complete messages through the node's
/// ``DIMSEServiceProvider``. It reads the next event only once the previous one is done, so a peer
/// that sends faster than the node ingests is held back by TCP, not buffered.
struct AssociationDriver: Sendable {
    typealias Action = AssociationStateMachine.Action

    let id: Int
    let server: DIMSEServer
    let settings: AssociationStateMachine.Settings

    func run(_ connection: NIOAsyncChannel<AssociationEvent, AssociationOutput>) async {
        let address = connection.channel.remoteAddress
        let peer = "\(address?.ipAddress ?? "?"):\(address?.port ?? 0)"
        var logger = server.logger
        logger[metadataKey: "association"] = "\(id)"
        logger[metadataKey: "peer"] = "\(peer)"
        var session = Session(
            id: id, peerAddress: peer, server: server, logger: logger,
            machine: AssociationStateMachine(settings: settings))
        do {
            try await connection.executeThenClose { inbound, outbound in
                if try await session.perform(session.machine.connected(), outbound) { return }
                for try await event in inbound {
                    let actions: [Action]
                    switch event {
                    case .pdu(let pdu):
                        // A connection counts against the association limit only from its A-ASSOCIATE-RQ.
                        var overCapacity = false
                        if case .associateRequest = pdu, !session.admitted {
                            session.admitted = server.admitAssociation()
                            overCapacity = !session.admitted
                        }
                        actions = session.machine.received(pdu, overCapacity: overCapacity)
                    case .malformed(let error): actions = session.machine.malformed(error)
                    case .timerExpired(let id): actions = session.machine.timerExpired(id: id)
                    }
                    if try await session.perform(actions, outbound) { return }
                }
                _ = try await session.perform(session.machine.closed(), outbound)
            }
        } catch {
            _ = session.machine.closed()
            logger.warning("association ended with an error", metadata: ["error": "\(error)"])
        }
        session.discardIncoming()
        if session.admitted { server.releaseAssociation() }
        if let association = session.association { await server.provider.associationEnded(association) }
    }
}

/// The mutable half of a running association.
private struct Session {
    enum Sink {
        case none
        case file(IncomingFile, AssociationStateMachine.MessageStart)
        case memory(ByteBuffer, AssociationStateMachine.MessageStart)
        case discard(AssociationStateMachine.MessageStart, DIMSEStatus)
    }

    let id: Int
    let peerAddress: String
    let server: DIMSEServer
    let logger: Logger
    var machine: AssociationStateMachine
    var association: DIMSEAssociation?
    var peer: AssociationStateMachine.Peer?
    var sink: Sink = .none
    /// Counted against the association limit (its A-ASSOCIATE-RQ arrived while there was room).
    var admitted = false
    /// The association's one file for incoming instances, rewritten for each C-STORE (a new file
    /// per instance made ext4 scan past every recently deleted inode on each create: a third of
    /// the node's CPU in `perf`). Removed when the association ends. A provider that takes its
    /// files (``DIMSEServiceProvider/takesIncomingFiles``) gets a new one per instance.
    var incoming: IncomingFile?

    init(id: Int, peerAddress: String, server: DIMSEServer, logger: Logger, machine: AssociationStateMachine) {
        self.id = id
        self.peerAddress = peerAddress
        self.server = server
        self.logger = logger
        self.machine = machine
    }

    typealias Outbound = NIOAsyncChannelOutboundWriter<AssociationOutput>

    /// Carries out actions in order; returns true once the connection is to be closed.
    mutating func perform(_ actions: [AssociationStateMachine.Action], _ outbound: Outbound) async throws -> Bool {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .send(let pdu):
                try await outbound.write(.pdu(pdu))
            case .armTimer(let id, let duration):
                try await outbound.write(.armTimer(id: id, duration))
            case .disarmTimer:
                try await outbound.write(.disarmTimer)
            case .close:
                return true
            case .accepted(let peer, let contexts):
                self.peer = peer
                association = DIMSEAssociation(
                    id: id, callingAETitle: peer.callingAETitle, calledAETitle: peer.calledAETitle, peer: peerAddress)
                server.counters.withLock { $0.associationsAccepted += 1 }
                logger.info(
                    "DICOM association accepted",
                    metadata: [
                        "calling": "\(peer.callingAETitle)", "called": "\(peer.calledAETitle)",
                        "contexts": "\(contexts.count) accepted",
                    ])
            case .rejected(let reject, let reason):
                server.counters.withLock { $0.associationsRejected += 1 }
                logger.warning(
                    "DICOM association rejected",
                    metadata: ["reason": "\(reason)", "source": "\(reject.source)", "code": "\(reject.reason)"])
                await refused("association", status: nil, "rejected: \(reason)")
            case .aborted(let reason):
                server.counters.withLock { $0.associationsAborted += 1 }
                logger.warning("DICOM association aborted", metadata: ["reason": "\(reason)"])
                await refused("association", status: nil, "aborted by the node: \(reason)")
            case .peerAborted:
                logger.info("DICOM association aborted by the peer")
            case .released:
                logger.info("DICOM association released")
            case .beginMessage(let start):
                sink = begin(start)
            case .dataFragment(let fragment):
                server.counters.withLock { $0.bytesReceived += fragment.readableBytes }
                if let problem = append(fragment) {
                    queue = machine.abortLocally(problem)[...]
                }
            case .endMessage:
                let finished = sink
                sink = .none
                try await serve(finished, outbound)
                if case .file = finished, server.provider.takesIncomingFiles {
                    // The provider has the file now: the next instance goes to a new one.
                    incoming?.release()
                    incoming = nil
                }
                queue.append(contentsOf: machine.responded())
            }
        }
        return false
    }

    /// Tells the node about a refusal, for its audit log.
    private func refused(_ operation: String, status: UInt16?, _ reason: String) async {
        await server.provider.refused(
            DIMSERefusal(
                association: association, peer: peerAddress, operation: operation, status: status, reason: reason))
    }

    private func refused(_ command: DIMSECommand, _ status: DIMSEStatus) async {
        let operation =
            switch command.field {
            case DIMSECommand.Field.cStoreRQ: "C-STORE"
            case DIMSECommand.Field.cFindRQ: "C-FIND"
            case DIMSECommand.Field.cEchoRQ: "C-ECHO"
            case DIMSECommand.Field.cMoveRQ: "C-MOVE"
            case DIMSECommand.Field.cGetRQ: "C-GET"
            default: "DIMSE 0x\(hex(command.field))"
            }
        await refused(operation, status: status.code, status.comment ?? "no reason given")
    }

    /// Decides where a message's data set goes: a file (C-STORE), memory (C-FIND) or nowhere.
    private mutating func begin(_ start: AssociationStateMachine.MessageStart) -> Sink {
        let command = start.command
        let context = start.context
        guard command.hasDataSet else { return .discard(start, .success) }
        switch (command.field, context.service) {
        case (DIMSECommand.Field.cStoreRQ, .storage):
            guard let sopClass = command.affectedSOPClassUID, let instance = command.affectedSOPInstanceUID,
                !instance.isEmpty
            else {
                return .discard(start, DIMSEStatus(code: 0xC000, comment: "no Affected SOP Class or Instance UID"))
            }
            guard sopClass == context.abstractSyntax else {
                return .discard(
                    start, DIMSEStatus(code: 0x0122, comment: "the SOP class differs from the presentation context's"))
            }
            do {
                let file = try incoming ?? IncomingFile(directory: server.provider.incomingDirectory)
                incoming = file
                try file.reset()
                try file.write(
                    DICOMWriter.fileMetaInformation(
                        transferSyntax: context.transferSyntax, sopClassUID: sopClass, sopInstanceUID: instance,
                        sourceAETitle: peer?.callingAETitle))
                return .file(file, start)
            } catch {
                logger.error("cannot open a file for an incoming instance", metadata: ["error": "\(error)"])
                return .discard(start, .outOfResources("the node cannot write the instance"))
            }
        case (DIMSECommand.Field.cFindRQ, .find), (DIMSECommand.Field.cMoveRQ, .move):
            return .memory(ByteBuffer(), start)
        default:
            return .discard(start, .success)
        }
    }

    /// Adds a data set fragment to the sink; returns a problem that aborts the association.
    private mutating func append(_ fragment: ByteBuffer) -> DIMSEError? {
        switch sink {
        case .file(let file, _):
            do {
                try file.write(fragment)
            } catch {
                return .io("cannot write an incoming instance: \(error)")
            }
        case .memory(var buffer, let start):
            var fragment = fragment
            guard buffer.readableBytes + fragment.readableBytes <= server.configuration.maximumIdentifierLength else {
                return .malformedPDU(
                    "an identifier longer than \(server.configuration.maximumIdentifierLength) bytes")
            }
            sink = .none  // keep the buffer uniquely referenced while it grows
            buffer.writeBuffer(&fragment)
            sink = .memory(buffer, start)
        case .none, .discard:
            break
        }
        return nil
    }

    /// Removes the association's incoming file, with any half-received instance (peer gone or
    /// association aborted mid-store).
    mutating func discardIncoming() {
        if case .file(_, let start) = sink {
            logger.warning(
                "incomplete instance discarded",
                metadata: ["sopInstanceUID": "\(start.command.affectedSOPInstanceUID ?? "?")"])
        }
        incoming?.remove()
        incoming = nil
        sink = .none
    }

    // MARK: Serving

    private func serve(_ finished: Sink, _ outbound: Outbound) async throws {
        switch finished {
        case .none:
            return
        case .file(let file, let start):
            try await store(file, start, outbound)
        case .memory(let identifier, let start):
            if start.command.field == DIMSECommand.Field.cMoveRQ {
                try await move(identifier, start, outbound)
            } else {
                try await find(identifier, start, outbound)
            }
        case .discard(let start, let status):
            try await answer(start, presetStatus: status, outbound)
        }
    }

    /// Commands with no data set to keep: C-ECHO, C-CANCEL, and anything refused at its start.
    private func answer(_ start: AssociationStateMachine.MessageStart, presetStatus: DIMSEStatus, _ outbound: Outbound)
        async throws
    {
        let command = start.command
        guard command.isRequest else {
            logger.warning("ignored a DIMSE response sent to the node", metadata: ["field": "\(command.field)"])
            return
        }
        if presetStatus != .success {
            if command.field == DIMSECommand.Field.cStoreRQ { server.counters.withLock { $0.storesFailed += 1 } }
            logger.warning(
                "DIMSE request refused",
                metadata: [
                    "field": "\(command.field)", "status": "\(hex(presetStatus.code))",
                    "reason": "\(presetStatus.comment ?? "")",
                ])
            await refused(command, presetStatus)
            try await send(
                command.response(status: presetStatus.code, errorComment: presetStatus.comment), dataSet: nil,
                start.contextID, outbound)
            return
        }
        switch (command.field, start.context.service) {
        case (DIMSECommand.Field.cEchoRQ, _):
            server.counters.withLock { $0.echoes += 1 }
            try await send(command.response(status: 0x0000), dataSet: nil, start.contextID, outbound)
        case (DIMSECommand.Field.cCancelRQ, _):
            return  // every C-FIND and C-MOVE is answered whole before the next message is read
        case (DIMSECommand.Field.cStoreRQ, _), (DIMSECommand.Field.cFindRQ, _), (DIMSECommand.Field.cMoveRQ, .move):
            // On a context of another service, or with no data set.
            await refused(command, DIMSEStatus(code: 0x0122, comment: "not supported on this presentation context"))
            try await send(
                command.response(status: 0x0122, errorComment: "not supported on this presentation context"),
                dataSet: nil, start.contextID, outbound)
        default:
            // PS3.7 Annex C: 0211H, unrecognised operation (C-GET and N-services are not offered).
            logger.warning("unsupported DIMSE operation", metadata: ["field": "0x\(hex(command.field))"])
            await refused(command, DIMSEStatus(code: 0x0211, comment: "operation not supported"))
            try await send(
                command.response(status: 0x0211, errorComment: "operation not supported"), dataSet: nil,
                start.contextID, outbound)
        }
    }

    private func store(_ file: IncomingFile, _ start: AssociationStateMachine.MessageStart, _ outbound: Outbound)
        async throws
    {
        let command = start.command
        let status = await server.provider.store(
            DIMSEStoreRequest(
                association: association!, path: file.path, sopClassUID: command.affectedSOPClassUID ?? "",
                sopInstanceUID: command.affectedSOPInstanceUID ?? "", transferSyntax: start.context.transferSyntax,
                dataSetBytes: file.bytesWritten - file.headerBytes))
        if !server.provider.takesIncomingFiles { try? file.reset() }  // no instance's bytes linger between messages
        if status.code == 0 {
            server.counters.withLock { $0.instancesStored += 1 }
        } else {
            server.counters.withLock { $0.storesFailed += 1 }
            await refused(command, status)
            logger.warning(
                "C-STORE refused",
                metadata: [
                    "sopInstanceUID": "\(command.affectedSOPInstanceUID ?? "?")", "status": "\(hex(status.code))",
                    "reason": "\(status.comment ?? "")",
                ])
        }
        try await send(
            command.response(status: status.code, errorComment: status.comment), dataSet: nil, start.contextID, outbound
        )
    }

    private func find(_ identifier: ByteBuffer, _ start: AssociationStateMachine.MessageStart, _ outbound: Outbound)
        async throws
    {
        let command = start.command
        let syntax = start.context.transferSyntax
        let query: QueryDataSet
        do {
            query = try QueryDataSet.decode(identifier, transferSyntax: syntax)
        } catch {
            logger.warning("C-FIND identifier unreadable", metadata: ["reason": "\(error)"])
            await refused(command, DIMSEStatus(code: 0xA900, comment: "the identifier cannot be read"))
            try await send(
                command.response(status: 0xA900, errorComment: "the identifier cannot be read"), dataSet: nil,
                start.contextID, outbound)
            return
        }
        server.counters.withLock { $0.finds += 1 }
        let level = (query.string(QueryKeys.queryRetrieveLevel) ?? "").uppercased()
        var keys: [Tag: String] = [:]
        for element in query.elements { keys[element.tag] = query.string(element.tag) ?? "" }
        let request = DIMSEFindRequest(
            association: association!,
            model: start.context.abstractSyntax == SOPClasses.patientRootFind ? .patientRoot : .studyRoot,
            level: level, keys: keys)
        let response = await server.provider.find(request)
        var returned: [(Tag, VR?)] = query.elements.filter { $0.tag != .specificCharacterSet }.map { ($0.tag, $0.vr) }
        for extra in [QueryKeys.queryRetrieveLevel, QueryKeys.retrieveAETitle, QueryKeys.instanceAvailability]
        where !returned.contains(where: { $0.0 == extra }) {
            returned.append((extra, nil))
        }
        for match in response.matches {
            var values: [(Tag, VR?, String?)] = []
            for (tag, vr) in returned {
                if tag == QueryKeys.queryRetrieveLevel {
                    values.append((tag, vr, level))
                } else if let value = match[tag] {
                    values.append((tag, vr, value))
                } else if tag != QueryKeys.retrieveAETitle && tag != QueryKeys.instanceAvailability {
                    values.append((tag, vr, nil))
                }
            }
            // Values from the index (descriptions) may be any Unicode: declare UTF-8 when they are not ASCII.
            if values.contains(where: { $0.2?.utf8.contains { $0 >= 0x80 } ?? false }) {
                values.append((.specificCharacterSet, .cs, "ISO_IR 192"))
            }
            try await send(
                command.response(status: 0xFF00, hasDataSet: true),
                dataSet: QueryDataSet.encode(values, transferSyntax: syntax),
                start.contextID, outbound)
        }
        let status = response.status
        if status.code != 0 {
            logger.warning(
                "C-FIND refused", metadata: ["status": "\(hex(status.code))", "reason": "\(status.comment ?? "")"])
            await refused(command, status)
        }
        try await send(
            command.response(status: status.code, errorComment: status.comment), dataSet: nil, start.contextID, outbound
        )
    }

    /// A C-MOVE (PS3.4 §C.4.2): the node's provider says which instances; they go to the
    /// destination over an association this node opens as requestor, one C-STORE each, with
    /// Pending responses (sub-operation counts) on the way and a final status.
    private func move(_ identifier: ByteBuffer, _ start: AssociationStateMachine.MessageStart, _ outbound: Outbound)
        async throws
    {
        let command = start.command
        let syntax = start.context.transferSyntax
        server.counters.withLock { $0.moves += 1 }
        func finish(_ status: DIMSEStatus, _ counts: DIMSECommand.SubOperations? = nil, failed: [String] = [])
            async throws
        {
            if status.isFailure {
                logger.warning(
                    "C-MOVE refused", metadata: ["status": "\(hex(status.code))", "reason": "\(status.comment ?? "")"])
                await refused(command, status)
            }
            var response = command.response(
                status: status.code, hasDataSet: !failed.isEmpty, errorComment: status.comment)
            response.subOperations = counts
            // Failed SOP Instance UID List (0008,0058), as many as fit one element's 16-bit length.
            var list = ""
            for uid in failed where list.utf8.count + uid.utf8.count + 1 < 0xFFF0 {
                list += (list.isEmpty ? "" : "\\") + uid
            }
            let dataSet =
                failed.isEmpty ? nil : QueryDataSet.encode([(Tag(0x0008, 0x0058), .ui, list)], transferSyntax: syntax)
            try await send(response, dataSet: dataSet, start.contextID, outbound)
        }
        let query: QueryDataSet
        do {
            query = try QueryDataSet.decode(identifier, transferSyntax: syntax)
        } catch {
            logger.warning("C-MOVE identifier unreadable", metadata: ["reason": "\(error)"])
            return try await finish(.cannotUnderstand("the identifier cannot be read"))
        }
        guard let name = command.moveDestination, !name.isEmpty,
            let destination = server.configuration.moveDestinations[name]
        else {
            return try await finish(
                DIMSEStatus(
                    code: 0xA801, comment: "Move Destination unknown: \"\(command.moveDestination ?? "")\""))
        }
        var keys: [Tag: String] = [:]
        for element in query.elements { keys[element.tag] = query.string(element.tag) ?? "" }
        let plan = await server.provider.move(
            DIMSEMoveRequest(
                association: association!,
                model: start.context.abstractSyntax == SOPClasses.patientRootMove ? .patientRoot : .studyRoot,
                level: (query.string(QueryKeys.queryRetrieveLevel) ?? "").uppercased(), keys: keys,
                destination: destination))
        if plan.status.isFailure { return try await finish(plan.status) }
        if plan.instances.isEmpty {
            return try await finish(plan.status, .init(remaining: nil, completed: 0, failed: 0, warning: 0))
        }

        // One context per SOP class and transfer syntax held: the data sets go as stored.
        var pairs: [(String, String)] = []
        for instance in plan.instances
        where !pairs.contains(where: { $0 == (instance.sopClassUID, instance.transferSyntaxUID) }) {
            pairs.append((instance.sopClassUID, instance.transferSyntaxUID))
        }
        guard pairs.count <= 128 else {
            return try await finish(
                .unableToPerformSubOperations("more than 128 SOP class and transfer syntax pairs"))
        }
        let contexts = pairs.enumerated().map { index, pair in
            PresentationContextProposal(id: UInt8(index * 2 + 1), abstractSyntax: pair.0, transferSyntaxes: [pair.1])
        }
        let total = plan.instances.count
        var completed = 0
        var warnings = 0
        var failed: [String] = []
        func counts(remaining: Int?) -> DIMSECommand.SubOperations {
            .init(
                remaining: remaining.map { UInt16(clamping: $0) }, completed: UInt16(clamping: completed),
                failed: UInt16(clamping: failed.count), warning: UInt16(clamping: warnings))
        }
        var scu = StoreSCU.Settings(
            host: destination.host, port: destination.port, callingAETitle: server.configuration.aeTitle,
            calledAETitle: destination.aeTitle, timeout: settings.timeout)
        scu.maximumPDULength = settings.maximumPDULength
        logger.info(
            "C-MOVE started",
            metadata: ["destination": "\(destination.aeTitle)", "instances": "\(total)", "contexts": "\(pairs.count)"])
        var opened = false
        var lastPending = ContinuousClock.now
        do {
            try await StoreSCU.withAssociation(scu, contexts: contexts) { destinationAssociation in
                opened = true
                for (index, instance) in plan.instances.enumerated() {
                    guard
                        let contextID = destinationAssociation.contextID(
                            abstractSyntax: instance.sopClassUID, transferSyntax: instance.transferSyntaxUID)
                    else {
                        logger.warning(
                            "C-MOVE: the destination did not accept the instance's SOP class and syntax",
                            metadata: ["sopInstanceUID": "\(instance.sopInstanceUID)"])
                        failed.append(instance.sopInstanceUID)
                        continue
                    }
                    var bytes = 0
                    let status = try await destinationAssociation.store(
                        contextID: contextID, sopClassUID: instance.sopClassUID,
                        sopInstanceUID: instance.sopInstanceUID,
                        moveOriginator: (association?.callingAETitle ?? "", command.messageID ?? 0)
                    ) { write in
                        try await instance.dataSet { piece in
                            bytes += piece.count
                            try await write(piece)
                        }
                    }
                    server.counters.withLock { $0.bytesSent += bytes }
                    if status.code == 0 {
                        completed += 1
                        server.counters.withLock { $0.instancesSent += 1 }
                    } else if !status.isFailure {
                        warnings += 1
                        server.counters.withLock { $0.instancesSent += 1 }
                    } else {
                        logger.warning(
                            "C-MOVE: the destination refused an instance",
                            metadata: [
                                "sopInstanceUID": "\(instance.sopInstanceUID)", "status": "\(hex(status.code))",
                                "reason": "\(status.comment ?? "")",
                            ])
                        failed.append(instance.sopInstanceUID)
                    }
                    // Pending every 4 sub-operations, and after any that ends more than 0.5 s after the last Pending.
                    let remaining = total - index - 1
                    if remaining > 0 && (index % 4 == 3 || ContinuousClock.now - lastPending > .milliseconds(500)) {
                        lastPending = ContinuousClock.now
                        var pending = command.response(status: 0xFF00)
                        pending.subOperations = counts(remaining: remaining)
                        try await send(pending, dataSet: nil, start.contextID, outbound)
                    }
                }
            }
        } catch {
            logger.warning("C-MOVE: sub-operations stopped", metadata: ["reason": "\(error)"])
            guard opened else {
                return try await finish(
                    .unableToPerformSubOperations("destination \(destination.aeTitle) unreachable or refused"))
            }
            // The instance being sent and those after it have failed.
            failed += plan.instances.dropFirst(completed + warnings + failed.count).map(\.sopInstanceUID)
        }
        logger.info(
            "C-MOVE finished",
            metadata: [
                "destination": "\(destination.aeTitle)", "completed": "\(completed)", "failed": "\(failed.count)",
                "warning": "\(warnings)",
            ])
        let final: DIMSEStatus =
            failed.isEmpty && warnings == 0
            ? plan.status
            : .subOperationsWarning(
                plan.status.comment ?? "\(failed.count) of \(total) sub-operations failed, \(warnings) warnings")
        try await finish(final, counts(remaining: nil), failed: failed)
    }

    /// Sends a message: the command set, then the data set, each cut into PDVs that fit the
    /// peer's maximum PDU length (PS3.8 §9.3.5, Annex E).
    private func send(_ command: DIMSECommand, dataSet: ByteBuffer?, _ contextID: UInt8, _ outbound: Outbound)
        async throws
    {
        let peerMaximum = Int(peer?.maximumPDULength ?? 0)
        let room = max(64, (peerMaximum == 0 ? Int(settings.maximumPDULength) : peerMaximum) - 6)
        for (part, isCommand) in [(command.encode(), true), (dataSet, false)] {
            guard let part else { continue }
            for value in PDV.fragments(of: part, contextID: contextID, isCommand: isCommand, room: room) {
                try await outbound.write(.pdu(.data([value])))
            }
        }
    }

    private var settings: AssociationStateMachine.Settings { machine.settings }
}

private func hex(_ value: UInt16) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: 4 - digits.count) + digits
}

/// The file instances are received into, named so that the store never takes it for anything
/// else; rewritten from the start for each instance, removed when its association ends.
private final class IncomingFile {
    let path: String
    private var fd: Int32
    private(set) var bytesWritten = 0
    private(set) var headerBytes = 0

    /// Created relative to the folder's descriptor, never through a link (``OutputFolder``), under a
    /// name built here.
    init(directory: String) throws {
        let name = ".incoming-" + UUID().uuidString + ".dcm"
        path = directory + "/" + name
        do {
            fd = try OutputFolder(path: directory, create: true).createFile(name)
        } catch {
            throw DIMSEError.io("cannot create an incoming file: \(error)")
        }
    }

    /// Empties the file for the next instance.
    func reset() throws {
        guard fd >= 0, ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw DIMSEError.io("cannot reuse \(path): errno \(errno)")
        }
        bytesWritten = 0
        headerBytes = 0
    }

    func write(_ bytes: [UInt8]) throws {
        try write(ByteBuffer(bytes: bytes))
        headerBytes = bytesWritten
    }

    func write(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let result = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw DIMSEError.io("cannot write \(path): errno \(errno)")
                }
                offset += result
            }
        }
        bytesWritten += buffer.readableBytes
    }

    func remove() {
        if fd >= 0 { _ = Foundation.close(fd) }
        fd = -1
        unlink(path)
    }

    /// Closes the file and leaves it where it is: its instance belongs to the provider now.
    func release() {
        if fd >= 0 { _ = Foundation.close(fd) }
        fd = -1
    }

    deinit { if fd >= 0 { _ = Foundation.close(fd) } }
}
