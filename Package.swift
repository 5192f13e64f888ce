// swift-tools-version:6.0
import PackageDescription

/// Hot C loops are always optimised, even in debug builds, so tests on real checkpoints stay fast.
let kernelFlags: [CSetting] = [.unsafeFlags(["-O3"])]

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.2.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // C libraries from Debian.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", providers: [.apt(["libjpeg62-turbo-dev"])]),

        // Compute.
        .target(name: "CKernels", cSettings: kernelFlags),
        .target(name: "Tensor", dependencies: ["CKernels", "COpenBLAS"]),

        // Small utilities every other room shares: hashing, seeded random numbers, the LRU cache, the JSON reader.
        .target(name: "CoreUtilities"),

        // Text and images in.
        .target(name: "Tokenizers", dependencies: ["CoreUtilities", .product(name: "HeapModule", package: "swift-collections")]),
        .target(name: "ChatTemplates", dependencies: ["CoreUtilities"]),
        // Constrained decoding: JSON Schema, regexes and EBNF compiled to token masks.
        .target(name: "Grammar", dependencies: ["CoreUtilities"]),
        .target(
            name: "CImageCodecs", dependencies: ["CPNG", "CJPEG"], cSettings: kernelFlags,
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]
        ),
        .target(name: "Imaging", dependencies: ["CImageCodecs", "CoreUtilities", .product(name: "Crypto", package: "swift-crypto")]),

        // Model code, one file per architecture.
        .target(name: "Models", dependencies: ["Tensor", "Tokenizers", "Imaging"]),

        // Diffusion: schedulers, torch's CPU generator, LoRA and the text-to-image pipeline.
        .target(name: "Diffusion", dependencies: ["ServingAPI", "Models", "Tensor", "Tokenizers", "Imaging", "CoreUtilities"]),

        // Diffusion serving: the step-level batching engine behind /v1/images/generations.
        .target(name: "DiffusionServing", dependencies: ["Diffusion", "ServingAPI", "Cluster", "CoreUtilities", "Imaging", "Models", "Tensor"]),

        // What a front end sees of an engine, model-free: the `InferenceEngine` and `ImageGenerationService` protocols, their requests and events.
        .target(name: "ServingAPI", dependencies: ["CoreUtilities", "Cluster", "Tokenizers", "Imaging", "Grammar"]),

        // Generation: scheduler, block manager, caches, sampler, runner.
        .target(name: "Engine", dependencies: ["ServingAPI", "CoreUtilities", "Cluster", "Models", "Tensor", "Tokenizers", "Imaging", "Grammar"]),

        // The OpenAI-compatible HTTP server and its metrics, over any `InferenceEngine` and `ImageGenerationService`.
        .target(
            name: "Server",
            dependencies: [
                "ServingAPI", "CoreUtilities", "Imaging", "ChatTemplates", "Tokenizers", "Grammar",
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The load generator for any OpenAI-compatible server (`tessera bench serve`).
        .target(
            name: "Bench",
            dependencies: [
                "CoreUtilities", "Tokenizers", "Imaging",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // Policies shared by the live cluster and the simulator.
        .target(name: "Cluster", dependencies: ["CoreUtilities", .product(name: "DequeModule", package: "swift-collections")]),
        .target(
            name: "Simulator",
            dependencies: [
                "Cluster", "CoreUtilities",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // Measures the real engine and writes the simulator's cost model.
        .target(name: "Profiler", dependencies: ["Engine", "ServingAPI", "CoreUtilities", "Cluster", "Models", "Imaging", "Simulator", "Tensor", "Diffusion"]),

        // Disaggregated serving: the wire protocol (messages, framing, sockets) that the front end and
        // the workers speak; the worker process, which holds a model and moves KV and features to its
        // peers; and the front end, which holds no model, supervises workers and routes with the Cluster policies.
        .target(name: "WireProtocol", dependencies: ["ServingAPI", "CoreUtilities", "Cluster", "Imaging"]),
        .target(name: "Workers", dependencies: ["WireProtocol", "ServingAPI", "Engine", "CoreUtilities", "Cluster", "Imaging", "Diffusion", "DiffusionServing", "Models", "Tensor"]),
        .target(
            name: "FrontEnd",
            dependencies: [
                "WireProtocol", "ServingAPI", "CoreUtilities", "Cluster", "Simulator", "Tokenizers", "Imaging", "KubernetesClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"), .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),

        // The Kubernetes API calls Tessera makes (Deployments and /scale, Pods, Leases).
        .target(
            name: "KubernetesClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),

        // Coverage-guided fuzzing of the parsers that read untrusted bytes (tests/fuzz/run.sh builds
        // `tessera-fuzz` with libFuzzer and AddressSanitizer; plainly built, it replays inputs).
        .target(name: "FuzzTargets", dependencies: ["CoreUtilities", "Tokenizers", "ChatTemplates", "Imaging", "WireProtocol"]),
        .executableTarget(name: "tessera-fuzz", dependencies: ["FuzzTargets"]),

        .executableTarget(
            name: "tessera",
            dependencies: [
                "CoreUtilities", "ServingAPI", "Engine", "Grammar", "Models", "Tensor", "Tokenizers", "Cluster", "Simulator", "Server", "Bench", "Profiler",
                "WireProtocol", "Workers", "FrontEnd", "KubernetesClient", "Imaging", "ChatTemplates", "Diffusion", "DiffusionServing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources/DefaultModel")]
        ),

        // The committed model fixtures and their `transformers` references, for the test targets that run them.
        .target(name: "TestFixtures", dependencies: ["Engine", "ServingAPI", "Imaging"], path: "Tests/TestFixtures"),
        .testTarget(name: "CoreUtilitiesTests", dependencies: ["CoreUtilities"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "CKernels", "CoreUtilities"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "CoreUtilities"]),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates"]),
        .testTarget(name: "GrammarTests", dependencies: ["Grammar"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "CoreUtilities", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Tensor", "Tokenizers", "Imaging"]),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "ServingAPI", "Models", "Tensor", "Tokenizers", "Imaging"]),
        .testTarget(name: "DiffusionServingTests", dependencies: ["DiffusionServing", "Diffusion", "ServingAPI", "Cluster", "Imaging", "Models", "Tensor"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "ServingAPI", "CoreUtilities", "Cluster", "Models", "Tokenizers", "Imaging", "TestFixtures", "Grammar"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "ServingAPI", "CoreUtilities", "Engine", "Bench", "Imaging", "Tokenizers", "ChatTemplates",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "Imaging"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "CoreUtilities"], exclude: ["Fixtures"]),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "Cluster"], exclude: ["Fixtures"]),
        .testTarget(name: "ProfilerTests", dependencies: ["Profiler", "Simulator", "Cluster", "Models"]),
        .testTarget(
            name: "WorkersTests",
            dependencies: ["Workers", "WireProtocol", "ServingAPI", "Engine", "Models", "Tensor", "CoreUtilities", "Cluster", "Imaging", "TestFixtures"]
        ),
        .testTarget(
            name: "FrontEndTests",
            dependencies: ["FrontEnd", "WireProtocol", "Workers", "ServingAPI", "Engine", "CoreUtilities", "Cluster", "Imaging", "KubernetesClient", "Simulator",
                           "Diffusion", "DiffusionServing", "Models", "TestFixtures"]
        ),
        .testTarget(name: "KubernetesClientTests", dependencies: ["KubernetesClient"], exclude: ["Recorded"]),
    ]
)
