/// Attribute matching for queries (PS3.4 §C.2.2.2): wildcards, value lists and date ranges. The one
/// implementation DICOMweb's QIDO-RS and the DICOM listener's C-FIND and C-MOVE share.
public enum DICOMMatching {
    /// Wildcard matching (PS3.4 §C.2.2.2.4): `*` matches any run of characters, `?` any one.
    public static func wildcard(_ pattern: String, matches value: String) -> Bool {
        let p = Array(pattern)
        let v = Array(value)
        var (pi, vi) = (0, 0)
        var star: Int? = nil
        var mark = 0
        while vi < v.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == v[vi]) {
                pi += 1
                vi += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi
                mark = vi
                pi += 1
            } else if let s = star {
                pi = s + 1
                mark += 1
                vi = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    /// A multi-valued key's values (backslash-separated, PS3.5 §6.4), trimmed, empty ones left
    /// out, each once, in order.
    public static func values(_ text: String) -> [String] {
        var seen: Set<String> = []
        return text.split(separator: "\\").map { trimmed($0) }.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// A UID key's list (PS3.4 §C.2.2.2.2), or nil when the key is absent, universal, holds
    /// wildcards or lists nothing.
    public static func uidList(_ value: String?) -> [String]? {
        guard let value, !value.contains("*"), !value.contains("?") else { return nil }
        let list = values(value)
        return list.isEmpty ? nil : list
    }

    /// Range matching of a `YYYYMMDD` date against `YYYYMMDD`, `A-B`, `-B` or `A-` (PS3.4
    /// §C.2.2.2.5), inclusive.
    public static func date(_ date: String, inRange query: String) -> Bool {
        guard let dash = query.firstIndex(of: "-") else { return date == query }
        let low = trimmed(query[..<dash])
        let high = trimmed(query[query.index(after: dash)...])
        return (low.isEmpty || date >= low) && (high.isEmpty || date <= high)
    }

    /// Without surrounding spaces and tabs (Foundation's `.whitespaces`, without Foundation).
    private static func trimmed(_ text: Substring) -> String {
        func blank(_ c: Character) -> Bool { c.isWhitespace && !c.isNewline }
        var text = text
        while let first = text.first, blank(first) { text.removeFirst() }
        while let last = text.last, blank(last) { text.removeLast() }
        return String(text)
    }
}
