/// One data element for ``DICOMWriter``: a tag, its VR, and its value.
///
/// ```swift
/// let dataset: [DataElement] = [
///     DataElement(.patientName, .pn, "Müller^Zoë"),
///     DataElement(.rows, .us, .uint16([512])),
///     DataElement(Tag(0x0009, 0x0010), .lo, "TRUSTMESH"),   // private creator, PS3.5 §7.8.1
/// ]
/// ```
public struct DataElement: Sendable {
    /// The element's tag.
    public var tag: Tag
    /// The element's VR; written in explicit VR transfer syntaxes, implied in Implicit VR Little Endian.
    public var vr: VR
    /// The element's value.
    public var value: Value

    /// Creates a data element.
    /// - Parameters:
    ///   - tag: The tag.
    ///   - vr: The value representation.
    ///   - value: The value.
    public init(_ tag: Tag, _ vr: VR, _ value: Value) {
        self.tag = tag
        self.vr = vr
        self.value = value
    }
}
