import Foundation
import Glibc
import Testing
import TrustMeshTesting

@testable import TrustMeshDICOM

@Suite struct DICOMUIDTests {
    @Test(arguments: [
        "0.1", "1.2", "1.2.840.10008.1.2.1", "2.25.329800735698586629295641978511506172918", "0",
        "1.0.2", String(repeating: "1", count: 64), "1." + String(repeating: "2", count: 62),
    ])
    func validUIDsPass(_ uid: String) throws {
        #expect(DICOMUID.problem(uid) == nil, "\(uid)")
        try DICOMUID.check(uid, attribute: "StudyInstanceUID")
    }

    @Test(arguments: [
        ("", "empty"), ("1..2", "empty component"), ("1.2.", "empty component"), (".1.2", "empty component"),
        ("1.02", "starts with 0"), ("01.2", "starts with 0"), ("1.2.00", "starts with 0"),
        (String(repeating: "1", count: 65), "65 characters"),
        ("1." + String(repeating: "2", count: 63), "65 characters"),
        ("../../../../../../outside/ESCAPED", "characters other than digits and dots"),
        ("1.2.3/4", "characters other than digits and dots"), ("1.2.a", "characters other than digits and dots"),
        ("1.2 ", "characters other than digits and dots"), ("1.2\u{0}", "characters other than digits and dots"),
        ("１.2", "characters other than digits and dots"),
    ])
    func invalidUIDsAreRefusedNamingTheAttributeAndTheRule(_ uid: String, _ rule: String) {
        #expect(DICOMUID.problem(uid)?.contains(rule) == true, "\(uid): \(DICOMUID.problem(uid) ?? "passed")")
        #expect(throws: InvalidUID.self) { try DICOMUID.check(uid, attribute: "SeriesInstanceUID") }
        do {
            try DICOMUID.check(uid, attribute: "SeriesInstanceUID")
        } catch {
            #expect(error.description.hasPrefix("SeriesInstanceUID is not a valid UID: "))
            // The refusal never repeats the value (a sender chose it).
            #expect(uid.count < 3 || !error.description.contains(uid))
        }
    }
}

@Suite struct OutputFolderTests {
    @Test func aSymlinkPlantedInTheFolderIsNotFollowed() throws {
        let dir = try TemporaryDirectory()
        let outside = dir.appending("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let folder = try OutputFolder(path: dir.appending("out"), create: true)
        // A link as a file name and as a subfolder name, both pointing outside.
        try FileManager.default.createSymbolicLink(
            atPath: dir.appending("out/a.dcm"), withDestinationPath: outside + "/a.dcm")
        try FileManager.default.createSymbolicLink(atPath: dir.appending("out/1.2"), withDestinationPath: outside)
        #expect(throws: OutputFolderError.self) { _ = try folder.createFile("a.dcm") }
        #expect(throws: OutputFolderError.self) { _ = try folder.subfolder("1.2") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        // The folder itself must not be a link either.
        try FileManager.default.createSymbolicLink(atPath: dir.appending("link"), withDestinationPath: outside)
        #expect(throws: OutputFolderError.self) { _ = try OutputFolder(path: dir.appending("link")) }
    }

    @Test func namesThatAreNotOnePlainComponentAreRefused() throws {
        let dir = try TemporaryDirectory()
        let folder = try OutputFolder(path: dir.appending("out"), create: true)
        for name in ["", ".", "..", "../x", "a/b"] {
            #expect(throws: OutputFolderError.self) { _ = try folder.createFile(name) }
            #expect(throws: OutputFolderError.self) { _ = try folder.subfolder(name) }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appending("x")))
    }

    @Test func aFileIsCreatedOnceAndPublishedWithoutReplacingAnything() throws {
        let dir = try TemporaryDirectory()
        let folder = try OutputFolder(path: dir.appending("out"), create: true).subfolder("1.2.3")
        let fd = try folder.createFile("x.partial")
        #expect(write(fd, "abc", 3) == 3)
        close(fd)
        #expect(throws: OutputFolderError.self) { _ = try folder.createFile("x.partial") }
        try folder.publish("x.partial", as: "x.dcm")
        #expect(try String(contentsOfFile: dir.appending("out/1.2.3/x.dcm"), encoding: .utf8) == "abc")
        #expect(!folder.has("x.partial"))
        let again = try folder.createFile("y.partial")
        close(again)
        #expect(throws: OutputFolderError.self) { try folder.publish("y.partial", as: "x.dcm") }
        #expect(try String(contentsOfFile: dir.appending("out/1.2.3/x.dcm"), encoding: .utf8) == "abc")
    }
}
