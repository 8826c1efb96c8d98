import Glibc

/// Splits a `multipart/related` body (RFC 2387, RFC 2046 §5.1) into parts as its bytes arrive, so a
/// STOW-RS request of any size is written to disk part by part with memory bounded by the largest
/// piece fed plus the delimiter.
///
/// Feed it the body in pieces of any size; the events are the same whatever the split (the tests
/// drip-feed it). Part headers are limited to 16 KiB, parts to ``maximumParts``.
///
/// ```swift
/// var parser = MultipartParser(boundary: "XYZ")
/// for piece in body { for event in try parser.feed(piece) { ... } }
/// for event in try parser.finish() { ... }
/// ```
package struct MultipartParser: Sendable {
    package enum Event: Sendable, Equatable {
        /// A part begins; header names in lower case.
        case begin(headers: [String: String])
        /// Bytes of the current part's content, in order: a slice of the parser's own buffer, so no
        /// copy is made for it (one kept past the next ``MultipartParser/feed(_:)`` costs a copy of
        /// that buffer instead).
        case content(ArraySlice<UInt8>)
        /// The current part ended: `complete` is false when the body stopped before its delimiter.
        case end(complete: Bool)
    }

    private enum State {
        case preamble, afterDelimiter, headers, content, epilogue
    }

    package static let maximumHeaderBytes = 16 << 10
    package static let maximumParts = 10_000

    private let delimiter: [UInt8]
    private var buffer: [UInt8]
    private var start = 0
    private var state = State.preamble
    private var parts = 0

    /// - Parameter boundary: the `boundary` parameter of the Content-Type (without quotes).
    package init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        // The first delimiter may open the body without a CRLF before it (RFC 2046 §5.1.1).
        buffer = Array("\r\n".utf8)
    }

    /// Takes the next piece of the body.
    /// - Throws: ``DICOMwebError`` (400) for framing that cannot be a multipart body.
    package mutating func feed(_ bytes: some Collection<UInt8>) throws(DICOMwebError) -> [Event] {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
        var events: [Event] = []
        try process(into: &events)
        return events
    }

    /// The body has ended.
    /// - Throws: ``DICOMwebError`` (400) when no part was found at all.
    package mutating func finish() throws(DICOMwebError) -> [Event] {
        var events: [Event] = []
        switch state {
        case .preamble:
            throw .badRequest("the multipart body has no part delimited by its boundary")
        case .content:
            let rest = buffer[start...]
            if !rest.isEmpty { events.append(.content(rest)) }
            events.append(.end(complete: false))
        case .headers:
            events.append(.begin(headers: [:]))
            events.append(.end(complete: false))
        case .afterDelimiter, .epilogue:
            break
        }
        state = .epilogue
        start = buffer.count
        return events
    }

    private mutating func process(into events: inout [Event]) throws(DICOMwebError) {
        while true {
            switch state {
            case .preamble:
                guard let found = find(delimiter, from: start) else {
                    start = max(start, buffer.count - delimiter.count + 1)
                    return
                }
                start = found + delimiter.count
                state = .afterDelimiter
            case .afterDelimiter:
                guard buffer.count - start >= 2 else { return }
                if buffer[start] == UInt8(ascii: "-") && buffer[start + 1] == UInt8(ascii: "-") {
                    state = .epilogue
                    continue
                }
                // Transport padding (spaces, tabs) may follow the boundary before its CRLF.
                guard let lineEnd = find([13, 10], from: start) else {
                    if buffer.count - start > 256 { throw .badRequest("a multipart boundary line is malformed") }
                    return
                }
                guard buffer[start..<lineEnd].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else {
                    throw .badRequest("a multipart boundary is followed by something other than CRLF or --")
                }
                start = lineEnd + 2
                parts += 1
                guard parts <= Self.maximumParts else {
                    throw .badRequest("more than \(Self.maximumParts) parts in one request")
                }
                state = .headers
            case .headers:
                let end: Int
                let headerBytes: ArraySlice<UInt8>
                if buffer.count - start >= 2 && buffer[start] == 13 && buffer[start + 1] == 10 {
                    end = start + 2
                    headerBytes = []
                } else if let found = find([13, 10, 13, 10], from: start) {
                    end = found + 4
                    headerBytes = buffer[start..<found]
                } else {
                    if buffer.count - start > Self.maximumHeaderBytes {
                        throw .badRequest("a part's headers exceed \(Self.maximumHeaderBytes) bytes")
                    }
                    return
                }
                events.append(.begin(headers: Self.headers(headerBytes)))
                start = end
                state = .content
            case .content:
                if let found = find(delimiter, from: start) {
                    if found > start { events.append(.content(buffer[start..<found])) }
                    events.append(.end(complete: true))
                    start = found + delimiter.count
                    state = .afterDelimiter
                } else {
                    // Keep what could be the start of a delimiter split across pieces.
                    let safe = buffer.count - delimiter.count + 1
                    if safe > start {
                        events.append(.content(buffer[start..<safe]))
                        start = safe
                    }
                    return
                }
            case .epilogue:
                start = buffer.count
                return
            }
        }
    }

    private func find(_ needle: [UInt8], from: Int) -> Int? {
        guard buffer.count - from >= needle.count else { return nil }
        return buffer.withUnsafeBufferPointer { haystack -> Int? in
            let first = needle[0]
            var index = from
            let last = haystack.count - needle.count
            while index <= last {
                guard
                    let hit = memchr(haystack.baseAddress! + index, Int32(first), last - index + 1)
                else { return nil }
                let position = haystack.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if memcmp(haystack.baseAddress! + position, needle, needle.count) == 0 { return position }
                index = position + 1
            }
            return nil
        }
    }

    private static func headers(_ bytes: ArraySlice<UInt8>) -> [String: String] {
        var result: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: " \t").lowercased()
            result[name] = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
        }
        return result
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

/// A parsed media type: `type/subtype; name=value; ...` (RFC 9110 §8.3.1), names lower-cased,
/// quoted values unquoted.
package struct MediaType: Sendable, Equatable {
    package var type: String
    package var parameters: [String: String]

    package init?(_ text: some StringProtocol) {
        let pieces = Self.splitOutsideQuotes(String(text), separator: ";")
        let type = pieces.first?.trimmingCharacters(in: " \t").lowercased() ?? ""
        guard type.contains("/") else { return nil }
        self.type = type
        var parameters: [String: String] = [:]
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            let name = piece[..<equals].trimmingCharacters(in: " \t").lowercased()
            var value = piece[piece.index(after: equals)...].trimmingCharacters(in: " \t")
            if value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            parameters[name] = value
        }
        self.parameters = parameters
    }

    /// The media ranges of an Accept header, in order.
    package static func list(_ header: String) -> [MediaType] {
        splitOutsideQuotes(header, separator: ",").compactMap { MediaType($0) }
    }

    /// Splits on a separator, except inside double quotes.
    static func splitOutsideQuotes(_ text: String, separator: Character) -> [Substring] {
        var result: [Substring] = []
        var quoted = false
        var pieceStart = text.startIndex
        for index in text.indices {
            let character = text[index]
            if character == "\"" { quoted.toggle() }
            if character == separator && !quoted {
                result.append(text[pieceStart..<index])
                pieceStart = text.index(after: index)
            }
        }
        result.append(text[pieceStart...])
        return result
    }
}
