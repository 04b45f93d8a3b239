// swift-tools-version:6.0
// Confab: a local voice assistant for the Linux terminal.
import PackageDescription

// Numeric code is built for the vector units of any x86-64 laptop since 2013 (Haswell: AVX2, FMA, F16C).
// Swift's default x86-64 target has no AVX2, which makes SIMD loops 5-40x slower.
#if arch(x86_64)
let vectorFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
let cVectorFlags: [CSetting] = [.unsafeFlags(["-mavx2", "-mfma", "-mf16c", "-O3"])]
#else
let vectorFlags: [SwiftSetting] = []
let cVectorFlags: [CSetting] = [.unsafeFlags(["-O3"])]
#endif

let package = Package(
    name: "Confab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "confab", targets: ["App"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        // Network: the remote language model (an OpenAI-compatible client) and `confab serve`.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.30.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    ],
    targets: [
        // System libraries: a module map and a shim header each.
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CNCurses", providers: [.apt(["libncurses-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CEspeakNG", pkgConfig: "espeak-ng", providers: [.apt(["libespeak-ng-dev"])]),
        .systemLibrary(name: "CSpeexDSP", pkgConfig: "speexdsp", providers: [.apt(["libspeexdsp-dev"])]),
        // Innermost quantized kernels in C intrinsics, only where Swift measurably cannot keep up.
        .target(name: "CKernels", cSettings: cVectorFlags),

        .target(
            name: "AudioIO",
            dependencies: [
                "CALSA", "CSndFile",
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: vectorFlags
        ),
        .target(
            name: "Engine",
            dependencies: [
                "AudioIO", "COpenBLAS", "CEspeakNG", "CSpeexDSP", "CKernels",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: vectorFlags
        ),
        .target(
            name: "UI",
            dependencies: ["CNCurses", "AudioIO", "Engine"]
        ),
        // An OpenAI-compatible Chat Completions client (SSE streaming) as one more `ResponseGenerating`.
        .target(
            name: "RemoteLM",
            dependencies: [
                "Engine",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The wire formats `confab serve` parses (multipart bodies, Wyoming framing): Foundation only, fuzzed alone.
        .target(name: "ServeWire"),
        // `confab serve`: an OpenAI-compatible HTTP API (Hummingbird) and a Wyoming server (SwiftNIO).
        .target(
            name: "Serve",
            dependencies: [
                "Engine", "AudioIO", "ServeWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "App",
            dependencies: [
                "AudioIO", "Engine", "UI", "RemoteLM", "Serve",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: vectorFlags
        ),

        // Unit tests use small hand-made fixtures; integration tests use the real default models
        // from the model store and fail (never skip) when one is missing.
        // Runs the confab binary built next to the tests (the command-line tests of several targets).
        .target(name: "ConfabTestSupport", path: "Tests/Support"),
        .testTarget(name: "AudioIOTests", dependencies: ["AudioIO", "App"], resources: [.copy("Fixtures")]),
        .testTarget(name: "EngineCoreTests", dependencies: ["Engine"], swiftSettings: vectorFlags),
        .testTarget(name: "SpeechRecognitionTests", dependencies: ["Engine", "AudioIO", "App", "ConfabTestSupport"], resources: [.copy("Fixtures")], swiftSettings: vectorFlags),
        .testTarget(name: "LanguageModelTests", dependencies: ["Engine", "App", "ConfabTestSupport"], resources: [.copy("Fixtures")], swiftSettings: vectorFlags),
        // The front end's screens in a pseudo-terminal (tmux) drive the confab binary built next to the tests.
        .testTarget(name: "UITests", dependencies: ["UI", "Engine", "AudioIO", "App"]),
        .testTarget(name: "ConversationTests", dependencies: ["Engine", "AudioIO"], resources: [.copy("Fixtures")], swiftSettings: vectorFlags),
        // The network API against real peers: the `openai` and `wyoming` Python packages (a venv scripts/test.sh
        // builds), and Confab's own remote client against `confab serve`.
        // The wire formats alone (Wyoming framing), no models or network.
        .testTarget(name: "ServeWireTests", dependencies: ["ServeWire"]),
        .testTarget(name: "ServeTests", dependencies: ["Serve", "RemoteLM", "Engine", "AudioIO", "App"], exclude: ["peers"]),
        .testTarget(name: "SpeechSynthesisTests", dependencies: ["Engine", "AudioIO", "App", "ConfabTestSupport"], resources: [.copy("Fixtures")], swiftSettings: vectorFlags),
    ]
)

// libFuzzer targets for every parser of untrusted bytes (Fuzz/README.md): one binary, `confab-fuzz`, the target chosen
// by CONFAB_FUZZ_TARGET. Declared only when CONFAB_FUZZ is set, as scripts/fuzz.sh does, because it builds only with
// `--sanitize=fuzzer` (libFuzzer brings `main`): a plain `swift build` of the app never sees it.
if Context.environment["CONFAB_FUZZ"] != nil {
    package.products.append(.executable(name: "confab-fuzz", targets: ["ConfabFuzz"]))
    package.targets.append(.executableTarget(
        name: "ConfabFuzz",
        dependencies: ["Engine", "AudioIO", "ServeWire"],
        path: "Fuzz/Sources/ConfabFuzz",
        swiftSettings: vectorFlags + [.unsafeFlags(["-parse-as-library"])]
    ))
}
