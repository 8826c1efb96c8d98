import TrustMeshDIMSE
import TrustMeshNodeCore

extension NodeStatus.DICOMListener {
    /// The listener's counters as the status reports them.
    init(_ statistics: DIMSEServer.Statistics) {
        self.init()
        port = statistics.port
        aeTitle = statistics.aeTitle
        associationsAccepted = statistics.associationsAccepted
        associationsRejected = statistics.associationsRejected
        associationsAborted = statistics.associationsAborted
        activeAssociations = statistics.active
        echoes = statistics.echoes
        instancesStored = statistics.instancesStored
        storesFailed = statistics.storesFailed
        queries = statistics.finds
        bytesReceived = statistics.bytesReceived
        moves = statistics.moves
        instancesSent = statistics.instancesSent
        bytesSent = statistics.bytesSent
    }
}
