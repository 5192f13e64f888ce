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
    ],
    targets: [
        // C libraries from Debian.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", providers: [.apt(["libjpeg62-turbo-dev"])]),

        // Compute.
        .target(name: "CKernels", cSettings: kernelFlags),
        .target(name: "Tensor", dependencies: ["CKernels", "COpenBLAS"]),

        // Text and images in.
        .target(name: "Tokenizers"),
        .target(name: "ChatTemplates"),
        .target(
            name: "CImageCodecs", dependencies: ["CPNG", "CJPEG"], cSettings: kernelFlags,
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]
        ),
        .target(name: "Imaging", dependencies: ["CImageCodecs"]),

        // Model code, one file per architecture.
        .target(name: "Models", dependencies: ["Tensor", "Tokenizers"]),

        // Generation and serving.
        .target(name: "Engine", dependencies: ["Models", "Tensor", "Tokenizers", "Imaging"]),

        // Policies shared by the live cluster and the simulator.
        .target(name: "Cluster"),
        .target(name: "Simulator", dependencies: ["Cluster"]),

        .executableTarget(
            name: "tessera",
            dependencies: [
                "Engine", "Models", "Tensor", "Tokenizers", "Cluster", "Simulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers"]),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Tensor", "Tokenizers"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Models", "Tokenizers"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster"]),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "Cluster"]),
    ]
)
