// The libFuzzer entry points (built with -sanitize=fuzzer -parse-as-library; libFuzzer supplies main).
//
//   CERTVAULT_FUZZ_TARGET=policy .build/release/certvault-fuzz corpus/policy -max_total_time=30
//
// SwiftPM links an executable with its entry point renamed to `<module>_main`; that entry
// starts libFuzzer's driver. (Where it is not renamed, libFuzzer's own main runs instead; the
// result is the same.)
//
// CERTVAULT_FUZZ_TARGET chooses the target (FuzzEntries.targets); every target shares this one
// binary so that the instrumented build links once. The entry functions themselves live in the
// root package (Sources/CertVaultFuzzEntries), where the replay tests call them too.

import CLibFuzzerDriver
import CertVaultFuzzEntries
import Foundation

nonisolated(unsafe) var selected: FuzzEntries.Target?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    // CERTVAULT_FUZZ_WRITE_SEEDS=DIR: write the vault seeds as the current code writes them
    // (including a backup in its current format) into DIR/<target>/, and stop.
    if let folder = ProcessInfo.processInfo.environment["CERTVAULT_FUZZ_WRITE_SEEDS"] {
        for (target, seeds) in VaultFuzzing.seeds(fresh: true) {
            let directory = URL(fileURLWithPath: folder).appendingPathComponent(target)
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (name, data) in seeds { try? data.write(to: directory.appendingPathComponent(name)) }
        }
        exit(0)
    }
    guard let name = ProcessInfo.processInfo.environment["CERTVAULT_FUZZ_TARGET"], let target = FuzzEntries.target(named: name) else {
        let names = FuzzEntries.targets.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n")
        FileHandle.standardError.write(Data("Set CERTVAULT_FUZZ_TARGET to one of:\n\(names)\n".utf8))
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    selected!.run(data)
    return 0
}

@_cdecl("certvault_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { bytes, count in fuzzerTestOneInput(bytes, count) }
}
