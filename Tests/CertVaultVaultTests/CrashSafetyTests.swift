import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

@Suite("Vault writes survive SIGKILL at any moment", .serialized)
struct CrashSafetyTests {
    static let writer = "\(TestEnvironment.productsDirectory)/certvault-test-writer"

    @Test("every write reported done opens; no partial or temporary file counts as an entry; the audit log verifies")
    func killedWriters() throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("crash")
        var reportedStored: Set<Int> = []
        var reportedRetired: Set<Int> = []
        // 25 rounds at least; on a loaded machine (the whole suite runs in parallel) a writer may
        // still be starting when it is killed, so more rounds follow, with later kills, until at
        // least 10 writes were reported done (at most 150 rounds).
        var round = 0
        while round < 25 || (reportedStored.count < 10 && round < 150) {
            defer { round += 1 }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.writer)
            process.arguments = [dir.file("vault"), dir.file("key/root.key"), "crash"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Kill at a different moment each round: 5 to 125 ms after start (plus 300 ms in the
            // rounds after the first 25, which only run when too few writes were done).
            usleep(UInt32(5_000 + (round * 37_000) % 120_000 + (round >= 25 ? 300_000 : 0)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): the writer ended on its own")
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            for line in output.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.first == "stored", let generation = Int(parts[1]) { reportedStored.insert(generation) }
                if parts.first == "retired", let generation = Int(parts[1]) { reportedRetired.insert(generation) }
            }
        }
        try #require(reportedStored.count >= 10, "the writer should have completed some writes (\(reportedStored.count))")

        let reader = try Vault.open(at: dir.file("vault"), unlock: protection)
        let generations = Set(try reader.generations(of: tenant))
        #expect(reportedStored.isSubset(of: generations), "a write reported as done is missing")
        #expect(generations == Set(1...(generations.max() ?? 0)), "generations must be consecutive, none duplicated")
        for generation in generations {
            let (_, payload, metadata) = try reader.readOut(tenant: tenant, generation: generation, purpose: "crash test")
            #expect(payload.pfx.count == 3000)
            if reportedRetired.contains(generation) { #expect(metadata.status == .retired) }
        }
        // A kill between an entry's rename and its index line leaves the index one entry behind:
        // verify says so, and reindex repairs it. Nothing else may be wrong.
        let report = try reader.verify()
        #expect(report.problems.allSatisfy { $0.hasPrefix("index:") }, "\(report.problems)")
        #expect(report.entries == generations.count)
        if !report.intact { _ = try reader.reindex() }
        #expect(try reader.verify().intact)
        #expect(try reader.list().map(\.generation) == generations.sorted())
        _ = vault
    }

    @Test("two writer processes on the same tenant never both create generation N")
    func twoProcesses() throws {
        let dir = try TemporaryDirectory()
        let (_, protection) = try VaultFixtures.keyFileVault(dir)
        let processes = (0..<2).map { _ -> (Process, Pipe) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.writer)
            process.arguments = [dir.file("vault"), dir.file("key/root.key"), "shared"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            return (process, pipe)
        }
        for (process, _) in processes { try process.run() }
        // Long enough for both to open the vault and store several entries on a loaded machine
        // (0.7 s once gave no entry at all with the PostgreSQL suites running beside it).
        usleep(2_500_000)
        for (process, _) in processes { kill(process.processIdentifier, SIGKILL) }
        var claims: [Int] = []
        for (process, pipe) in processes {
            process.waitUntilExit()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            claims += output.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ")
                return parts.first == "stored" ? Int(parts[1]) : nil
            }
        }
        try #require(claims.count >= 4)
        #expect(Set(claims).count == claims.count, "two writers reported the same generation")
        let vault = try Vault.open(at: dir.file("vault"), unlock: protection)
        let generations = try vault.generations(of: try TenantID("shared"))
        #expect(Set(claims).isSubset(of: Set(generations)))
        #expect(generations == Array(1...generations.count))
        #expect(try vault.verify().problems.allSatisfy { $0.hasPrefix("index:") })
    }
}
