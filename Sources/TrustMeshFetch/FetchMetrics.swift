/// What a fetch tells the node's metrics (the composition root's Prometheus registry).
package protocol FetchMetrics: Sendable {
    /// A fetch was refused by a sharing rule, here or at the holder.
    func fetchRefusal(_ rule: String)
    /// A fetch ended, completed or not, after moving `bytes` in `duration`.
    func fetchEnded(completed: Bool, bytes: Int, duration: Duration)
}
