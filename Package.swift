// swift-tools-version:6.0
//
// Tanba — distributed fingerprint identification (AFIS/ABIS).
//
// Module map (data flows downward only):
//   TanbaCore        domain model and template formats; no platform code
//   TanbaImaging     image decoding (PNG/TIFF/BMP/PGM/JPEG/WSQ), enhancement, minutiae extraction (libfprint)
//   TanbaMatch       cylinder encoding, SIMD comparator, gallery shards and 1:N search
//   TanbaSynth       synthetic fingerprint images and template-level galleries
//   TanbaEvaluation  the FVC accuracy protocol and benchmarks
//   TanbaWire        messaging: nng REQ/REP with mutual TLS, signed versioned envelopes
//   TanbaSQLite      thin SQLite layer: connections, statements, versioned migrations
//   TanbaStore       the coordinator's encrypted system of record (SQLite), audit log, replication log
//   TanbaAccess      lawful access: roles x basis policy, accounts, multi-factor login, reports
//   TanbaCapture     branch capture station: rules, signed consent, scanners, durable outbox
//   TanbaReplication store replication over TanbaWire: standby service, StorePrimary, promotion
//   TanbaCluster     shard map, matching workers, coordinator (scatter-gather, dedup, rebalancing)
//   TanbaOps         ops HTTP endpoint (Hummingbird): /healthz /readyz /metrics /cluster /subjects/{iin}/report
//   TanbaCompliance  `tanba compliance check`: every software-enforceable rule as a scenario with a negative twin
//   tanba            the one command-line program
// C targets are kept tiny, one library each, SwiftNIO-style (CNIO*).
import PackageDescription

let package = Package(
    name: "Tanba",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tanba", targets: ["tanba"]),
        .library(name: "TanbaCore", targets: ["TanbaCore"]),
        .library(name: "TanbaImaging", targets: ["TanbaImaging"]),
        .library(name: "TanbaMatch", targets: ["TanbaMatch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // MARK: System libraries
        .systemLibrary(name: "CNNG", path: "Sources/CNNG"),
        .systemLibrary(name: "CFPrint", path: "Sources/CFPrint", pkgConfig: "libfprint-2",
                       providers: [.apt(["libfprint-2-dev", "libglib2.0-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CImageLibs", path: "Sources/CImageLibs",
                       providers: [.apt(["libpng-dev", "libtiff-dev", "libturbojpeg0-dev"])]),

        // MARK: Small C shims
        .target(name: "CTanbaFPrint", dependencies: ["CFPrint"], path: "Sources/CTanbaFPrint"),
        // libfprint device access (context, open, capture) for the capture station.
        .target(name: "CTanbaCapture", dependencies: ["CFPrint"], path: "Sources/CTanbaCapture"),
        // A C target does not inherit a system library's module-map `link` lines, so the
        // libraries are named again here.
        .target(name: "CTanbaImageCodecs", dependencies: ["CImageLibs"], path: "Sources/CTanbaImageCodecs",
                linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("tiff"), .linkedLibrary("turbojpeg")]),
        .target(name: "CTanbaKernels", path: "Sources/CTanbaKernels",
                cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),

        // MARK: Swift modules
        .target(name: "TanbaCore"),
        // Optimised even in debug builds (like TanbaSynth below): ridge enhancement costs ~0.2 s
        // per image at -Onone, and the station's tests extract every finger they capture.
        .target(name: "TanbaImaging", dependencies: ["TanbaCore", "CTanbaFPrint", "CTanbaImageCodecs"],
                swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "TanbaMatch", dependencies: ["TanbaCore", "CTanbaKernels"]),
        // Optimised even in debug builds: growing a master print takes ~10 s per finger at -Onone,
        // which would make every test that captures synthetic ten-prints take minutes.
        .target(name: "TanbaSynth", dependencies: ["TanbaCore", "TanbaImaging", "TanbaMatch"],
                swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "TanbaEvaluation", dependencies: ["TanbaCore", "TanbaImaging", "TanbaMatch", "TanbaSynth"]),
        // Messaging between stations, coordinator and workers: nng REQ/REP, signed envelopes.
        .target(name: "TanbaWire", dependencies: [
            "TanbaCore", "CNNG",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        // A thin SQLite layer (connections, statements, migrations), shared by the store and
        // the station's outbox.
        .target(name: "TanbaSQLite", dependencies: ["TanbaCore", "CSQLite"]),
        // System of record: encrypted SQLite store, key file, audit log, replication log.
        .target(name: "TanbaStore", dependencies: [
            "TanbaCore", "TanbaSQLite", "CSQLite", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Lawful access (issue 6): roles x basis policy, operator accounts, multi-factor login,
        // subject transparency, supervisor reports, incident journal. Own SQLite file; no
        // dependency on the store or the cluster (the coordinator calls it).
        .target(name: "TanbaAccess", dependencies: [
            "TanbaCore", "TanbaSQLite",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        // Branch capture station: enrollment rules, signed consent, capture sources
        // (libfprint devices, the virtual scanner, image files), durable outbox.
        .target(name: "TanbaCapture", dependencies: [
            "TanbaCore", "TanbaImaging", "TanbaSQLite", "TanbaWire", "CTanbaCapture",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Store replication over TanbaWire: network link, standby service, StorePrimary.
        // Kept apart so TanbaStore stays free of networking.
        .target(name: "TanbaReplication", dependencies: ["TanbaCore", "TanbaSQLite", "TanbaStore", "TanbaWire"]),
        // The cluster: shard map and placement, matching workers, the coordinator (ENROLL with
        // de-duplication, IDENTIFY scatter-gather with replica retry, live rebalancing). The
        // coordinator embeds the store primary (TanbaReplication) so writes are acknowledged
        // only once the synchronous standby holds them.
        .target(name: "TanbaCluster", dependencies: [
            "TanbaCore", "TanbaMatch", "TanbaWire", "TanbaStore", "TanbaReplication", "TanbaAccess",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The ops HTTP endpoint (/healthz, /readyz, /metrics, /cluster) on Hummingbird; kept
        // out of TanbaCluster so the cluster logic and its tests build without SwiftNIO.
        .target(name: "TanbaOps", dependencies: [
            "TanbaCluster",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The compliance check (issue 6): REQUIREMENTS.md §2–§5 as end-to-end scenarios over the
        // station rules, the store, the access layer and an in-process cluster, each with a
        // negative twin; and the subject report read from the store through the access gate.
        // Top of the graph: nothing but the CLI depends on it.
        .target(name: "TanbaCompliance", dependencies: [
            "TanbaCore", "TanbaSQLite", "TanbaStore", "TanbaAccess", "TanbaCapture", "TanbaWire", "TanbaCluster", "TanbaSynth",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "TanbaTestSupport", path: "Sources/TanbaTestSupport"),
        .executableTarget(name: "tanba", dependencies: [
            "TanbaCore", "TanbaImaging", "TanbaMatch", "TanbaSynth", "TanbaEvaluation", "TanbaWire", "TanbaSQLite", "TanbaStore", "TanbaAccess",
            "TanbaCapture", "TanbaReplication", "TanbaCluster", "TanbaOps", "TanbaCompliance",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // MARK: Tests (one target per module)
        .testTarget(name: "TanbaCoreTests", dependencies: ["TanbaTestSupport", "TanbaCore"]),
        .testTarget(name: "TanbaImagingTests", dependencies: ["TanbaTestSupport", "TanbaImaging"]),
        .testTarget(name: "TanbaMatchTests", dependencies: ["TanbaTestSupport", "TanbaMatch", "TanbaSynth"]),
        .testTarget(name: "TanbaSynthTests", dependencies: ["TanbaTestSupport", "TanbaSynth"]),
        .testTarget(name: "TanbaEvaluationTests", dependencies: ["TanbaTestSupport", "TanbaEvaluation"]),
        .testTarget(name: "TanbaWireTests", dependencies: ["TanbaTestSupport", "TanbaWire"]),
        .testTarget(name: "TanbaCaptureTests", dependencies: [
            "TanbaTestSupport", "TanbaCapture", "TanbaSynth", "TanbaMatch",
            // The real coordinator, standby and workers in-process (RealCluster).
            "TanbaCluster", "TanbaReplication", "TanbaStore",
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "TanbaStoreTests", dependencies: ["TanbaTestSupport", "TanbaStore", "TanbaSQLite"]),
        .testTarget(name: "TanbaAccessTests", dependencies: [
            "TanbaTestSupport", "TanbaAccess", "TanbaSQLite", "TanbaWire",
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "X509", package: "swift-certificates"),
        ]),
        .testTarget(name: "TanbaReplicationTests", dependencies: [
            "TanbaTestSupport", "TanbaReplication", "TanbaStore", "TanbaWire", "TanbaSQLite", "TanbaSynth",
        ]),
        .testTarget(name: "TanbaOpsTests", dependencies: ["TanbaTestSupport", "TanbaOps"]),
        .testTarget(name: "TanbaComplianceTests", dependencies: [
            "TanbaTestSupport", "TanbaCompliance", "TanbaOps", "TanbaAccess", "TanbaStore", "TanbaCore",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "TanbaClusterTests", dependencies: [
            "TanbaTestSupport", "TanbaCluster", "TanbaSynth", "TanbaWire", "TanbaStore", "TanbaSQLite", "TanbaReplication", "TanbaAccess",
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "X509", package: "swift-certificates"),
        ]),
    ]
)
