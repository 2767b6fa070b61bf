import CertVaultIssuer
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

/// A simulator and a configuration file that says everything the CLI needs to reach it.
private final class ConfiguredWorld: @unchecked Sendable {
    let simulator: VB365Simulator
    let dir: TemporaryDirectory
    let config: String
    /// No CERTVAULT_* variable from CLI.isolation may override the file (an empty one counts as unset).
    let env = ["CERTVAULT_VAULT": "", "CERTVAULT_KEY_FILE": "", "CERTVAULT_CONFIG": "", "CERTVAULT_ONBOARDING": "", "CERTVAULT_POLICY": ""]

    init(user: String = "VB365\\admin") throws {
        simulator = try VB365Simulator(configuration: .init(version: .v8, users: ["VB365\\admin": "config-test-password"]))
        try simulator.start()
        dir = try TemporaryDirectory()
        let ca = try dir.write("ca.pem", simulator.identity!.certificatePEM)
        let password = try dir.write("vb365-password", "config-test-password\n")
        config = try dir.write("certvault.toml", """
            # written by ConfigFileCLITests
            [vault]
            path = "\(dir.file("vault"))"
            key_file = "\(dir.file("key/root.key"))"

            [vb365]
            url = "\(simulator.baseURL)"
            user = '\(user)'
            password_file = "\(password)"
            ca_file = "\(ca)"

            [onboarding]
            policy = "\(CLI.defaultPolicy)"
            state_dir = "\(dir.file("onboarding"))"
            """)
    }

    deinit { simulator.stop() }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessOutput {
        try CLI.run(arguments, environment: env.merging(environment) { $1 }, in: dir.path)
    }
}

@Suite("The CLI reads --config: no VB365 or vault flags needed")
struct ConfigFileCLITests {
    @Test("vb365 check with only --config")
    func checkWithOnlyConfig() throws {
        let world = try ConfiguredWorld()
        let check = try world.run(["vb365", "check", "--config", world.config, "--json"])
        #expect(check.status == 0, "\(check.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])
        #expect(report["apiVersion"] as? String == "v8")
        #expect(report["url"] as? String == world.simulator.baseURL)
        // $CERTVAULT_CONFIG does the same.
        let fromEnvironment = try world.run(["vb365", "check", "--json"], environment: ["CERTVAULT_CONFIG": world.config])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
    }

    @Test("init, onboard start and resume, restore-credential with only --config")
    func onboardingWithOnlyConfig() throws {
        let world = try ConfiguredWorld()
        let initialized = try world.run(["init", "--config", world.config])
        #expect(initialized.status == 0, "\(initialized.stderr)")
        #expect(FileManager.default.fileExists(atPath: world.dir.file("vault")), "the vault is where the file says")
        #expect(FileManager.default.fileExists(atPath: world.dir.file("key/root.key")))

        let start = try world.run(["onboard", "start", "contoso", "--org-name", "contoso.onmicrosoft.com", "--config", world.config, "--json"])
        #expect(start.status == 0, "\(start.stderr)")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(start.stdout.utf8)) as? [String: Any])
        #expect(record["state"] as? String == "awaiting-customer")
        #expect(FileManager.default.fileExists(atPath: world.dir.file("onboarding")), "records are where the file says")
        let code = try #require(record["userCode"] as? String)
        #expect(world.simulator.signIn(userCode: code))

        let resumed = try world.run(["onboard", "resume", "contoso", "--config", world.config])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("contoso: onboarded"))
        #expect(world.simulator.storedOrganizations().count == 1)

        let restore = try world.run(["restore-credential", "contoso", "--purpose", "config test", "--metadata-only", "--config", world.config])
        #expect(restore.status == 0, "\(restore.stderr)")
        let credential = try #require(try JSONSerialization.jsonObject(with: Data(restore.stdout.utf8)) as? [String: Any])
        #expect(credential["applicationId"] as? String == world.simulator.storedOrganizations().first?.applicationId)
    }

    @Test("A flag wins over the environment, the environment over the file")
    func precedence() throws {
        let world = try ConfiguredWorld(user: "VB365\\nobody")
        let fileOnly = try world.run(["vb365", "check", "--config", world.config])
        #expect(fileOnly.status != 0, "the file's user does not exist")
        let environment = try world.run(["vb365", "check", "--config", world.config], environment: ["CERTVAULT_VB365_USER": "VB365\\admin"])
        #expect(environment.status == 0, "\(environment.stderr)")
        let flag = try world.run(["vb365", "check", "--config", world.config, "--user", "VB365\\admin"],
                                 environment: ["CERTVAULT_VB365_USER": "VB365\\other"])
        #expect(flag.status == 0, "\(flag.stderr)")
    }

    @Test("A bad file stops the command with the file, line and key")
    func badFile() throws {
        let world = try ConfiguredWorld()
        let bad = try world.dir.write("bad.toml", "[vb365]\nurl = \"https://127.0.0.1:1\"\npasword_file = \"/x\"\n")
        let check = try world.run(["vb365", "check", "--config", bad])
        #expect(check.status == 1)
        #expect(check.stderr.contains("bad.toml' line 3, [vb365] pasword_file: unknown key"), "\(check.stderr)")
        #expect(check.stderr.contains("Did you mean 'password_file'?"))
        let missing = try world.run(["list", "--config", world.dir.file("nope.toml")])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("nope.toml"))
    }
}
