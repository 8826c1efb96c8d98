// swift-tools-version:6.1
import PackageDescription

// Every target shares these: Swift 6 language mode and the upcoming features that make
// each `public import` and each existential a visible decision (STYLE.md §1).
let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "TrustMesh",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "trustmesh", targets: ["trustmesh"])
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // Listed in layer order: a target depends only on targets listed above it.
        // C libraries from Debian, found by pkg-config. Each has exactly one Swift importer.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLinux"),

        // Libraries with one job each, no networking.
        .target(name: "TrustMeshCrypto", dependencies: ["CSodium"], swiftSettings: settings),
        .target(name: "TrustMeshCompression", dependencies: ["CZstd"], swiftSettings: settings),
        .target(name: "TrustMeshDICOM", dependencies: ["CZlib"], swiftSettings: settings),
        .target(name: "TrustMeshModel", dependencies: ["TrustMeshCrypto"], swiftSettings: settings),
        .target(name: "TrustMeshPolicy", dependencies: ["TrustMeshModel", "TrustMeshCrypto"], swiftSettings: settings),
        .target(
            name: "TrustMeshAudit", dependencies: ["TrustMeshModel", "TrustMeshCrypto", "TrustMeshPolicy"],
            swiftSettings: settings
        ),
        .target(name: "TrustMeshGossip", dependencies: ["TrustMeshModel", "TrustMeshCrypto"], swiftSettings: settings),
        .target(
            name: "TrustMeshStore",
            dependencies: [
                "TrustMeshModel", "TrustMeshDICOM", "TrustMeshCompression", "TrustMeshCrypto", "CLinux",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TrustMeshDIMSE",
            dependencies: [
                "TrustMeshDICOM",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TrustMeshHL7",
            dependencies: [
                "TrustMeshModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .target(name: "TrustMeshFHIR", dependencies: ["TrustMeshModel", "TrustMeshCrypto"], swiftSettings: settings),

        // The node, divided by job (docs/ARCHITECTURE.md, "Targets").
        .target(
            name: "TrustMeshAccess",
            dependencies: [
                "TrustMeshModel", "TrustMeshCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TrustMeshNodeCore",
            dependencies: [
                "TrustMeshStore", "TrustMeshModel", "TrustMeshCrypto", "TrustMeshGossip", "TrustMeshPolicy",
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TrustMeshPeer",
            dependencies: [
                "TrustMeshNodeCore", "TrustMeshStore", "TrustMeshModel", "TrustMeshCrypto", "TrustMeshGossip",
                "TrustMeshPolicy",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TrustMeshFetch",
            dependencies: [
                "TrustMeshNodeCore", "TrustMeshPeer", "TrustMeshStore", "TrustMeshModel", "TrustMeshCrypto",
                "TrustMeshCompression", "TrustMeshGossip", "TrustMeshPolicy", "TrustMeshDICOM",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TrustMeshDICOMweb",
            dependencies: [
                "TrustMeshNodeCore", "TrustMeshAccess", "TrustMeshStore", "TrustMeshModel", "TrustMeshCrypto",
                "TrustMeshDICOM",
                "TrustMeshCompression", "TrustMeshGossip",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TrustMeshPrefetch",
            dependencies: ["TrustMeshNodeCore", "TrustMeshFetch", "TrustMeshStore", "TrustMeshModel"],
            swiftSettings: settings
        ),
        .target(
            name: "TrustMeshWeb",
            dependencies: [
                "TrustMeshNodeCore", "TrustMeshAccess", "TrustMeshFetch", "TrustMeshPeer", "TrustMeshStore",
                "TrustMeshModel",
                "TrustMeshCrypto", "TrustMeshDICOM", "TrustMeshPolicy", "TrustMeshAudit", "TrustMeshFHIR",
                "TrustMeshPrefetch",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TrustMeshNode",
            dependencies: [
                "TrustMeshNodeCore", "TrustMeshAccess", "TrustMeshPeer", "TrustMeshFetch", "TrustMeshDICOMweb",
                "TrustMeshWeb",
                "TrustMeshStore", "TrustMeshModel", "TrustMeshCrypto", "TrustMeshDICOM", "TrustMeshGossip",
                "TrustMeshDIMSE", "TrustMeshCompression", "TrustMeshPolicy", "TrustMeshAudit", "TrustMeshHL7",
                "TrustMeshPrefetch",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        // The decoders that read outside bytes, as fuzz targets (docs/FUZZING.md, Scripts/fuzz).
        .target(
            name: "TrustMeshFuzz",
            dependencies: [
                "TrustMeshDICOM", "TrustMeshDIMSE", "TrustMeshDICOMweb", "TrustMeshPeer", "TrustMeshFetch",
                "TrustMeshGossip", "TrustMeshModel", "TrustMeshCrypto", "TrustMeshCompression", "TrustMeshStore",
                "TrustMeshAudit", "TrustMeshHL7", "TrustMeshFHIR",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "trustmesh",
            dependencies: [
                "TrustMeshNode", "TrustMeshAccess", "TrustMeshNodeCore", "TrustMeshFetch", "TrustMeshStore",
                "TrustMeshModel",
                "TrustMeshDICOM", "TrustMeshCrypto", "TrustMeshGossip", "TrustMeshAudit", "TrustMeshDIMSE",
                "TrustMeshPolicy", "TrustMeshHL7", "TrustMeshPrefetch",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: settings
        ),
        // The measurements Scripts/bench runs, kept out of the shipped `trustmesh` (no node inside).
        .executableTarget(
            name: "trustmesh-bench",
            dependencies: [
                "TrustMeshStore", "TrustMeshAudit", "TrustMeshModel", "TrustMeshCrypto", "TrustMeshCompression",
                "TrustMeshGossip", "TrustMeshNodeCore", "TrustMeshPeer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),

        // libFuzzer's driver for TrustMeshFuzz (built by Scripts/fuzz with -sanitize=fuzzer), or,
        // built plainly, the seed-corpus writer and a replayer.
        .executableTarget(name: "trustmesh-fuzz", dependencies: ["TrustMeshFuzz"], swiftSettings: settings),

        // Test support: without the node (DICOM and Store tests link no HTTP stack), and with it.
        .target(name: "TrustMeshTesting", swiftSettings: settings),
        .target(
            name: "TrustMeshNodeTesting",
            dependencies: [
                "TrustMeshTesting", "TrustMeshNode", "TrustMeshNodeCore", "TrustMeshModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),

        // Tests, one target per library target (the node's parts share TrustMeshNodeTests).
        .testTarget(name: "TrustMeshCryptoTests", dependencies: ["TrustMeshCrypto"], swiftSettings: settings),
        .testTarget(name: "TrustMeshCompressionTests", dependencies: ["TrustMeshCompression"], swiftSettings: settings),
        .testTarget(
            name: "TrustMeshPrefetchTests",
            dependencies: [
                "TrustMeshPrefetch", "TrustMeshNodeCore", "TrustMeshModel", "TrustMeshFetch", "TrustMeshStore",
                "TrustMeshPeer", "TrustMeshNode", "TrustMeshTesting", "TrustMeshNodeTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings),
        .testTarget(
            name: "TrustMeshDICOMTests",
            dependencies: ["TrustMeshDICOM", "TrustMeshTesting"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshModelTests", dependencies: ["TrustMeshModel", "TrustMeshCrypto"], swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshPolicyTests",
            dependencies: ["TrustMeshPolicy", "TrustMeshModel", "TrustMeshCrypto"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshGossipTests",
            dependencies: ["TrustMeshGossip", "TrustMeshModel", "TrustMeshCrypto"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshStoreTests",
            dependencies: [
                "TrustMeshStore", "TrustMeshDICOM", "TrustMeshModel", "TrustMeshCrypto", "TrustMeshTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshAuditTests",
            dependencies: [
                "TrustMeshAudit", "TrustMeshModel", "TrustMeshCrypto", "TrustMeshPolicy", "TrustMeshStore",
                "TrustMeshNode", "TrustMeshNodeCore", "TrustMeshTesting",
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshDIMSETests",
            dependencies: [
                "TrustMeshDIMSE", "TrustMeshDICOM", "TrustMeshTesting", "TrustMeshNodeTesting", "TrustMeshNode",
                "TrustMeshNodeCore", "TrustMeshModel", .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshHL7Tests",
            dependencies: ["TrustMeshHL7", "TrustMeshModel", .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshFHIRTests", dependencies: ["TrustMeshFHIR", "TrustMeshModel"], swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshFuzzTests", dependencies: ["TrustMeshFuzz", "TrustMeshGossip"], swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshNodeTests",
            dependencies: [
                "TrustMeshNode", "TrustMeshNodeCore", "TrustMeshPeer", "TrustMeshFetch", "TrustMeshDICOMweb",
                "TrustMeshWeb", "TrustMeshStore", "TrustMeshModel", "TrustMeshCrypto", "TrustMeshCompression",
                "TrustMeshDICOM", "TrustMeshGossip", "TrustMeshTesting", "TrustMeshNodeTesting", "TrustMeshPolicy",
                "TrustMeshAccess", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TrustMeshCLITests",
            dependencies: ["TrustMeshTesting", "TrustMeshDICOM"],
            swiftSettings: settings
        ),
    ]
)
