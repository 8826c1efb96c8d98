/// A sharing rule as another node reports it: one of this version's ``PolicyRule``s, or the name
/// of a rule a newer holder applies that this version does not know.
///
/// On the wire (a peer refusal, the local API) it is the rule's name as a JSON string, so a node of
/// this version and one with more rules understand each other: an unknown name decodes to
/// ``unknown(_:)`` instead of failing the answer that carries it.
public enum ReportedRule: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A rule this version applies.
    case known(PolicyRule)
    /// A rule this version does not know, by the name the reporting node gave it.
    case unknown(String)

    /// The rule for a name.
    public init(_ name: String) {
        self = PolicyRule(rawValue: name).map(Self.known) ?? .unknown(name)
    }

    /// The rule's name on the wire and in audit entries.
    public var name: String {
        switch self {
        case .known(let rule): rule.rawValue
        case .unknown(let name): name
        }
    }

    public var description: String { name }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
