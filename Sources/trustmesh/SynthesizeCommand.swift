import ArgumentParser
import TrustMeshDICOM

struct SynthesizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthesize",
        abstract: "Write a synthetic CT study (for demos, tests and benchmarks; no real patient).",
        discussion: """
            Writes realistic 16-bit CT slices (body, lungs, spine, noise) as DICOM Part 10 files. \
            Use a test NHS number (e.g. 943 476 5919) so synthetic data is never mistaken for a \
            real patient's.
            """
    )

    @Option(help: ArgumentHelp("Folder to write into.", valueName: "DIR"))
    var out: String

    @Option(
        help: ArgumentHelp("PatientID to write (an NHS number, or anything for an unmatched study).", valueName: "ID"))
    var patientID: String = "9434765919"

    @Option(help: "Patient name (DICOM PN, e.g. DOE^JANE).")
    var patientName: String = "TEST^PATIENT"

    @Option(help: "Study date (YYYYMMDD).")
    var date: String = "20260314"

    @Option(help: "Study description.")
    var description: String = "CT CHEST ABDOMEN PELVIS"

    @Option(help: "Body part examined.")
    var bodyPart: String = "CHEST"

    @Option(help: "Modality.")
    var modality: String = "CT"

    @Option(help: "Accession number.")
    var accession: String = "ACC0001"

    @Option(help: "Series in the study.")
    var series: Int = 1

    @Option(help: "Slices per series.")
    var instances: Int = 20

    @Option(help: "Image size in pixels (square).")
    var size: Int = 512

    @Option(help: "Seed for the image content.")
    var seed: UInt64 = 1

    @Option(help: "Study Instance UID (default: a new 2.25 UUID-derived UID).")
    var studyUID: String?

    func run() throws {
        var study = SyntheticStudy(patientID: patientID, instancesPerSeries: instances, seed: seed)
        study.patientName = patientName
        study.studyDate = date
        study.studyDescription = description
        study.bodyPart = bodyPart
        study.modality = modality
        study.accessionNumber = accession
        study.seriesCount = series
        study.rows = size
        study.columns = size
        if let studyUID { study.studyInstanceUID = studyUID }
        let files = try study.write(to: out)
        print("Wrote \(files.count) files of study \(study.studyInstanceUID) to \(out)")
    }
}
