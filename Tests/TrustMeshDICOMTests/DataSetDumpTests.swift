import Testing
import TrustMeshDICOM

/// The full-header walk behind DICOMweb metadata: the same elements however the bytes arrive, the
/// indexed attributes as the reader finds them, and damage thrown, never trapped.
@Suite struct DataSetDumpTests {
    /// A comparable rendering of a dump: tag, VR, value or items, omitted length.
    static func render(_ elements: [DataSetDump.Element], _ dump: DataSetDump) -> [String] {
        elements.map { element in
            let items = element.items.map { "[" + render($0, dump).joined(separator: ";") + "]" }.joined()
            return "\(element.tag) \(element.vr) \(element.bytes ?? []) \(items) \(element.omittedLength ?? 0)"
        }
    }

    @Test(arguments: [TransferSyntax.implicitVRLittleEndian, .explicitVRLittleEndian, .explicitVRBigEndian])
    func wholeByteByByteAndInPiecesGiveTheSameDump(syntax: TransferSyntax) throws {
        let bytes = try Fixtures.encode(Fixtures.richDataSet(characterSet: "ISO_IR 192"), syntax)
        var whole = BytesSource(bytes)
        let reference = try DataSetDump.read(source: &whole)
        #expect(!reference.elements.isEmpty)
        for size in [1, 7, 4096] {
            var source = BytesSource(bytes, maximumReadSize: size)
            let dump = try DataSetDump.read(source: &source)
            #expect(Self.render(dump.elements, dump) == Self.render(reference.elements, reference), "pieces of \(size)")
        }
        // The indexed attributes come out as the reader's.
        var again = BytesSource(bytes)
        let info = try DICOMReader.read(source: &again)
        let patientID = try #require(reference.elements.first { $0.tag == .patientID })
        #expect(reference.strings(patientID) == [info.attributes.patientID ?? ""])
        let pixels = try #require(reference.elements.first { $0.tag == .pixelData })
        #expect(pixels.bytes == nil && (pixels.omittedLength ?? 0) > 0)
        let sequence = try #require(reference.elements.first { $0.tag == .otherPatientIDsSequence })
        #expect(sequence.vr == .sq && !sequence.items.isEmpty)
    }

    @Test func aTruncatedFileThrowsOrEndsAtAnElementBoundaryButNeverTraps() throws {
        let bytes = try Fixtures.encode(Fixtures.richDataSet(), .explicitVRLittleEndian)
        var whole = BytesSource(bytes)
        let count = try DataSetDump.read(source: &whole).elements.count
        var thrown = 0
        for cut in 133..<bytes.count {
            var source = BytesSource(Array(bytes[..<cut]))
            do {
                // A cut between two top-level elements is a shorter, valid data set.
                #expect(try DataSetDump.read(source: &source).elements.count < count)
            } catch {
                thrown += 1
            }
        }
        #expect(thrown > (bytes.count - 133) / 2)
    }

    @Test func filesWithoutMetaInformationAreLeftToTheReader() throws {
        let bare = try Fixtures.encode(
            Fixtures.richDataSet(), .implicitVRLittleEndian, preamble: false, metaGroup: false)
        var source = BytesSource(bare)
        #expect(throws: DICOMError.self) { try DataSetDump.read(source: &source) }
        let deflated = try Fixtures.encode(Fixtures.richDataSet(), .deflatedExplicitVRLittleEndian)
        var other = BytesSource(deflated)
        #expect(throws: DICOMError.self) { try DataSetDump.read(source: &other) }
    }
}
