package import Foundation
import Synchronization
package import TrustMeshModel

/// Which studies each actor has a recent `view` entry for, so that the thumbnails of a study page
/// are attributed to the page view's entry instead of each writing its own.
///
/// A study page shows up to 12 thumbnails a series; one entry per picture would flood the log with
/// entries that say nothing the page view's entry does not. The rule: a `view` entry of a study by
/// an actor (a person in one session, or a system) covers that actor's thumbnails of the study for
/// ``length`` (15 minutes) after it is written; a thumbnail outside every such window writes its
/// own `view` entry, which opens a new one. So every thumbnail sent is attributable to an entry
/// naming the same person, session, patient and study, written at most ``length`` before it, and
/// thumbnails add at most one entry per actor, study and window.
///
/// Forgetting is always safe (it only writes more entries): windows that ended are dropped as new
/// ones open, and past ``maximumWindows`` open windows all are forgotten, so memory stays bounded.
package final class ViewAuditWindow: Sendable {
    struct Key: Hashable {
        var actor: Actor
        var studyUID: String
    }

    /// How long a `view` entry covers its actor's thumbnails of the study.
    package let length: TimeInterval
    /// Most windows kept open at once.
    package let maximumWindows: Int
    private let opened = Mutex<[Key: Date]>([:])

    /// A window table.
    /// - Parameters:
    ///   - length: how long an entry covers its actor's thumbnails of the study (15 minutes).
    ///   - maximumWindows: most open windows kept; past it all are forgotten.
    package init(length: TimeInterval = 15 * 60, maximumWindows: Int = 10_000) {
        self.length = length
        self.maximumWindows = maximumWindows
    }

    /// Records that a `view` entry of `studyUID` by `actor` was written at `now`: it opens a window.
    package func opened(_ actor: Actor, studyUID: String, at now: Date) {
        opened.withLock { open(Key(actor: actor, studyUID: studyUID), at: now, in: &$0) }
    }

    /// Whether a thumbnail of `studyUID` sent to `actor` at `now` needs its own entry: true when no
    /// window of theirs covers it, and the window is then claimed (opened at `now`) in the same
    /// step, so concurrent thumbnails of the study write one entry. A caller whose entry then
    /// fails to be written calls ``release(_:studyUID:at:)``.
    package func claim(_ actor: Actor, studyUID: String, at now: Date) -> Bool {
        let key = Key(actor: actor, studyUID: studyUID)
        return opened.withLock { windows in
            if let start = windows[key], start <= now, now.timeIntervalSince(start) < length { return false }
            open(key, at: now, in: &windows)
            return true
        }
    }

    private func open(_ key: Key, at now: Date, in windows: inout [Key: Date]) {
        if windows.count >= maximumWindows {
            windows = windows.filter { now.timeIntervalSince($0.value) < length }
            if windows.count >= maximumWindows { windows = [:] }
        }
        windows[key] = now
    }

    /// Undoes a ``claim(_:studyUID:at:)`` at `now` whose entry could not be written.
    package func release(_ actor: Actor, studyUID: String, at now: Date) {
        opened.withLock { windows in
            let key = Key(actor: actor, studyUID: studyUID)
            if windows[key] == now { windows[key] = nil }
        }
    }
}
