/// Polls `condition` until it is true or the deadline passes (then throws). The pause between polls
/// only spaces the attempts; nothing waits for a fixed time in place of a condition.
public func poll(
    _ what: String, deadline: Duration, every pause: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: deadline)
    // The condition is read once more after the deadline passes: a test starved of threads by
    // the tests beside it may wake after its deadline, and its last reading, long before, is stale.
    while true {
        if try await condition() { return }
        if clock.now >= end { break }
        try await Task.sleep(for: pause)
    }
    throw CommandRunnerError(message: "timed out after \(deadline) waiting for \(what)")
}
