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
                #expect(
                    saved == data,
                    """
                    Tests/Fuzz/corpus/\(target)/\(name) differs from the generated seed; regenerate the vault seeds with \
                    'CERTVAULT_FUZZ_WRITE_SEEDS=1 swift test --filter vaultSeedsAreCurrent'
                    """)
            }
        }
    }

    @Test("The fuzz fixture vault opens, lists, verifies intact and restores from its backups with the fixed test key")
    func fixtureVaultIsValid() throws {
        let report = try VaultFuzzing.checkFixture()
        #expect(report.files.contains("keyring") && report.files.contains("index") && report.files.contains("audit.log"))
        #expect(report.problems.count == 5)
        for (way, problems) in report.problems.sorted(by: { $0.key < $1.key }) {
            // A problem here means the fixture no longer matches the vault format: the vault
            // targets would stop at a MAC and fuzz nothing behind it. Adapt VaultFuzzing.swift.
            #expect(problems == [], "\(way)")
        }
    }
}

/// Crashes the fuzzers found in code owned elsewhere, not fixed yet. Each reproducer lies under
/// Tests/Fuzz/known-issues/<target>/; its test traps today, so it is disabled. Fixing one: enable
/// its test, move the file to Tests/Fuzz/corpus/<target>/, delete its check in KnownIssues.swift.
@Suite("Fuzz known issues: crashes found by fuzzing and not fixed yet")
struct FuzzKnownIssuesTests {
    /// (target, file) of each open reproducer under known-issues/. None is open: the audit
    /// sequence overflows found first are fixed and replay from the corpus.
    static let reproducers: [(String, String)] = []

    func replay(_ target: String, _ file: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(FuzzCorpus.fuzzFolder)/known-issues/\(target)/\(file)"))
        let entry = try #require(FuzzEntries.target(named: target))
        entry.parse(data)  // without the known-issue filter
    }

    @Test("Every known-issue reproducer is skipped by the fuzz targets' filter, and no other saved input is")
    func filterMatchesReproducers() throws {
        for (target, file) in Self.reproducers {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(FuzzCorpus.fuzzFolder)/known-issues/\(target)/\(file)"))
            #expect(FuzzEntries.target(named: target)?.knownIssue(data) != nil, "\(target)/\(file)")
        }
        for input in FuzzCorpus.inputs {
            let data = try Data(contentsOf: URL(fileURLWithPath: input.path))
            #expect(FuzzEntries.target(named: input.target)?.knownIssue(data) == nil, "\(input.testDescription)")
        }
    }
}
