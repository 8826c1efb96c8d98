/// A DICOM value representation: the data type of a data element's value (DICOM PS3.5 §6.2).
///
/// Cases are the two-letter codes in lower case, following the Swift API Design Guidelines
/// (`VR.ob` is `OB`). ``rawValue`` gives the code as written in explicit VR encodings.
public enum VR: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Application Entity.
    case ae = "AE"
    /// Age String.
    case `as` = "AS"
    /// Attribute Tag.
    case at = "AT"
    /// Code String.
    case cs = "CS"
    /// Date.
    case da = "DA"
    /// Decimal String.
    case ds = "DS"
    /// Date Time.
    case dt = "DT"
    /// Floating Point Double.
    case fd = "FD"
    /// Floating Point Single.
    case fl = "FL"
    /// Integer String.
    case `is` = "IS"
    /// Long String.
    case lo = "LO"
    /// Long Text.
    case lt = "LT"
    /// Other Byte.
    case ob = "OB"
    /// Other Double.
    case od = "OD"
    /// Other Float.
    case of = "OF"
    /// Other Long.
    case ol = "OL"
    /// Other 64-bit Very Long.
    case ov = "OV"
    /// Other Word.
    case ow = "OW"
    /// Person Name.
    case pn = "PN"
    /// Short String.
    case sh = "SH"
    /// Signed Long.
    case sl = "SL"
    /// Sequence of Items.
    case sq = "SQ"
    /// Signed Short.
    case ss = "SS"
    /// Short Text.
    case st = "ST"
    /// Signed 64-bit Very Long.
    case sv = "SV"
    /// Time.
    case tm = "TM"
    /// Unlimited Characters.
    case uc = "UC"
    /// Unique Identifier (UID).
    case ui = "UI"
    /// Unsigned Long.
    case ul = "UL"
    /// Unknown.
    case un = "UN"
    /// Universal Resource Identifier or Locator.
    case ur = "UR"
    /// Unsigned Short.
    case us = "US"
    /// Unlimited Text.
    case ut = "UT"
    /// Unsigned 64-bit Very Long.
    case uv = "UV"

    /// The two-letter code, e.g. `"OB"`.
    public var description: String { rawValue }

    /// Whether explicit VR encodings give this VR two reserved bytes and a 32-bit length
    /// (PS3.5 §7.1.2, Table 7.1-1); all others have a 16-bit length (Table 7.1-2).
    public var hasLongLength: Bool {
        switch self {
        case .ob, .od, .of, .ol, .ov, .ow, .sq, .uc, .un, .ur, .ut, .sv, .uv: true
        default: false
        }
    }

    /// The size of one binary number for VRs whose bytes big-endian encodings swap (PS3.5 §7.3), else 1.
    var swapSize: Int {
        switch self {
        case .us, .ss, .ow, .at: 2  // AT is two 16-bit numbers
        case .ul, .sl, .fl, .of, .ol: 4
        case .fd, .od, .ov, .sv, .uv: 8
        default: 1
        }
    }

    /// Whether values are character strings (PS3.5 §6.2).
    var isString: Bool {
        switch self {
        case .ae, .as, .cs, .da, .ds, .dt, .is, .lo, .lt, .pn, .sh, .st, .tm, .uc, .ui, .ur, .ut: true
        default: false
        }
    }

    /// Whether the value's characters come from the Specific Character Set, not the default repertoire
    /// (PS3.5 §6.1.2.3: SH, LO, UC, ST, LT, UT and PN).
    var usesSpecificCharacterSet: Bool {
        switch self {
        case .sh, .lo, .uc, .st, .lt, .ut, .pn: true
        default: false
        }
    }

    /// Looks a VR up from the two bytes of an explicit VR header.
    init?(byte0: UInt8, byte1: UInt8) {
        guard (0x41...0x5A).contains(byte0), (0x41...0x5A).contains(byte1),
            let vr = VR.table[Int(byte0 &- 0x41) &* 26 &+ Int(byte1 &- 0x41)]
        else { return nil }
        self = vr
    }

    /// The two bytes of the code, as written in explicit VR headers.
    var bytes: (UInt8, UInt8) {
        let utf8 = Array(rawValue.utf8)
        return (utf8[0], utf8[1])
    }

    /// VRs indexed by their two upper-case letters, `(first - "A") * 26 + (second - "A")`.
    private static let table: [VR?] = {
        var table = [VR?](repeating: nil, count: 26 * 26)
        for vr in VR.allCases {
            let utf8 = Array(vr.rawValue.utf8)
            table[Int(utf8[0] - 0x41) * 26 + Int(utf8[1] - 0x41)] = vr
        }
        return table
    }()
}
