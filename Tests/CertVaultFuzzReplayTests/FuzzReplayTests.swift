import CertVaultFuzzEntries
import Foundation
import Testing

/// One saved fuzz input: a seed or a crash reproducer under Tests/Fuzz/corpus/<target>/.
struct CorpusInput: Sendable, CustomTestStringConvertible {
    let target: String
    let file: String

    var path: String { "\(FuzzCorpus.corpus)/\(target)/\(file)" }
    var testDescription: String { "\(target)/\(file)" }
}

/// Where the saved inputs are, relative to this file.
enum FuzzCorpus {
    static let fuzzFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz").path
    static let corpus = "\(fuzzFolder)/corpus"

    static func files(_ target: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(corpus)/\(target)")) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Every saved input of every target.
    static var inputs: [CorpusInput] {
        FuzzEntries.targets.flatMap { target in files(target.name).map { CorpusInput(target: target.name, file: $0) } }
    }
}

@Suite("Fuzz replay: every saved fuzz input (seeds and fixed crash reproducers) parses without a crash or hang")
struct FuzzReplayTests {
    @Test("Every fuzz target has a seed corpus")
    func everyTargetHasSeeds() {
        for target in FuzzEntries.targets {
            #expect(!FuzzCorpus.files(target.name).isEmpty, "Tests/Fuzz/corpus/\(target.name) has no inputs")
        }
    }

    @Test("A saved input runs through its target's entry function", arguments: FuzzCorpus.inputs)
    func replay(_ input: CorpusInput) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: input.path))
        let target = try #require(FuzzEntries.target(named: input.target))
        let started = ContinuousClock.now
        target.run(data)
        // A hang shows as a test that never ends; a slow input (10 s here, 10 s under libFuzzer's
        // -timeout) is a defect too.
        #expect(ContinuousClock.now - started < .seconds(10), "\(input.target)/\(input.file) took too long")
    }

    @Test("The committed vault seeds are the ones the fuzz fixture generates (so they still authenticate)")
    func vaultSeedsAreCurrent() throws {
        // CERTVAULT_FUZZ_WRITE_SEEDS=1 swift test --filter vaultSeedsAreCurrent rewrites them.
        let rewrite = ProcessInfo.processInfo.environment["CERTVAULT_FUZZ_WRITE_SEEDS"] == "1"
        for (target, seeds) in VaultFuzzing.seeds() {
            for (name, data) in seeds {
                if rewrite {
                    try FileManager.default.createDirectory(atPath: "\(FuzzCorpus.corpus)/\(target)", withIntermediateDirectories: true)
                    try data.write(to: URL(fileURLWithPath: "\(FuzzCorpus.corpus)/\(target)/\(name)"))
                }
                let saved = FileManager.default.contents(atPath: "\(FuzzCorpus.corpus)/\(target)/\(name)")
                #expect(saved == data, """
                    Tests/Fuzz/corpus/\(target)/\(name) differs from the generated seed; regenerate the vault seeds with \
                    'CERTVAULT_FUZZ_WRITE_SEEDS=1 swift test --filter vaultSeedsAreCurrent'
                    """)
            }
        }
    }

    @Test("The fuzz fixture vault opens, lists, verifies intact and restores from its backup with the fixed test key")
    func fixtureVaultIsValid() throws {
        let report = try VaultFuzzing.checkFixture()
        #expect(report.listed == 1)
        #expect(report.problems == [], "the fixture no longer matches the vault format: the vault targets stop at the MACs")
        #expect(report.restoredProblems == [])
        #expect(report.auditRecords == 1)
    }
}
