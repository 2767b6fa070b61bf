import ArgumentParser
import CertVaultCore
import CertVaultHTTP
import CertVaultIssuer
import CertVaultPolicy
import CertVaultVB365
import Foundation
import Logging

/// Requests per second and client CPU per request for DeviceCode and Organizations calls
/// against the simulator over TLS with keep-alive: certvault's VB365 client against the `curl`
/// CLI making the same calls (one curl process, one connection, `--next` between requests).
/// The simulator runs as a separate process, so client CPU is the benchmark's own (getrusage
/// RUSAGE_SELF) against curl's (RUSAGE_CHILDREN).
struct VB365Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vb365",
        abstract: "VB365 client against the curl CLI: requests per second and client CPU per request, against the simulator over TLS."
    )

    @Option(help: "Requests per call type and side.")
    var requests = 500

    @Option(help: "Organizations stored in the simulator before the list benchmark.")
    var organizations = 20

    @Option(help: "Rounds; medians are reported.")
    var rounds = 3

    @Option(help: "API version served by the simulator.")
    var apiVersion = "v8"

    func run() async throws {
        guard let version = VB365APIVersion(rawValue: apiVersion) else { throw ValidationError("--api-version must be v6, v7 or v8") }
        guard let curl = Self.which("curl") else { throw ValidationError("the curl CLI is needed for the baseline") }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("certvault-bench-vb365-\(getpid())").path
        try PrivateFiles.makePrivateDirectory(work)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let simulator = try BenchSimulator(apiVersion: version.rawValue, work: work)
        defer { simulator.stop() }
        let password = try SecretSource.file(simulator.passwordFile).read()
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let client = try VB365Client(configuration: .init(serverURL: simulator.url, version: version, username: "VB365\\admin",
                                                          http: .init(trust: .caFile(simulator.caFile))),
                                     password: password, logger: logger)
        try client.logIn()
        // A token for curl, from its own login (the form body goes through a 0600 file, not argv).
        let formFile = "\(work)/login.form"
        var form = Array("grant_type=password&username=VB365%5Cadmin&disable_antiforgery_token=true&password=".utf8)
        password.withUnsafeBytes { form += Array($0) }
        if version == .v6 { form = Array(String(decoding: form, as: UTF8.self).replacingOccurrences(of: "&disable_antiforgery_token=true", with: "").utf8) }
        try PrivateFiles.writeNewFile(formFile, bytes: form)
        SecureWipe.wipe(&form)
        let login = try Subprocess.run(curl, ["-s", "--cacert", simulator.caFile, "--data-binary", "@\(formFile)", "\(simulator.url)/\(version.rawValue)/token"])
        guard let tokenObject = try? JSONSerialization.jsonObject(with: login.stdout) as? [String: Any], let token = tokenObject["access_token"] as? String else {
            throw ValidationError("curl could not log in to the simulator")
        }

        // Organizations to list.
        let policy = try PolicyLoader.load(path: "policy/default.toml")
        let credential = try Issuer(policy: policy, logger: logger).issue(IssuanceRequest(tenant: try TenantID("bench"), org: "Bench"))
        for index in 0..<organizations {
            let code = try client.createDeviceCode(region: .worldwide).userCode
            _ = try client.addOrganization(.newOffice365(officeName: "bench\(index).onmicrosoft.com", region: .worldwide, userCode: code,
                                                         applicationName: "bench", certificateBase64: credential.pfxBase64, password: credential.password))
        }

        print("VB365 calls against the simulator (API \(version.rawValue), TLS 1.3 on loopback, keep-alive), \(requests) requests per run, median of \(rounds) rounds")
        print("simulator: separate process; \(organizations) organizations stored; curl: \(Self.curlVersion(curl))")
        print("")
        print("call                        side        req/s   client CPU us/req   ratio req/s (certvault/curl)   ratio CPU")
        let deviceBody = #"{"targetRegion":"Worldwide"}"#
        let calls: [(String, (VB365Client) throws -> Void, [String])] = [
            ("POST DeviceCode", { _ = try $0.createDeviceCode(region: .worldwide) },
             ["-X", "POST", "-H", "Content-Type: application/json", "--data", deviceBody, "\(simulator.url)/\(version.rawValue)/DeviceCode"]),
            ("GET Organizations", { _ = try $0.organizations() },
             ["\(simulator.url)/\(version.rawValue)/Organizations" + (version.pagesOrganizations ? "?offset=0&limit=100" : "")]),
        ]
        let headerFile = "\(work)/auth.header"
        try PrivateFiles.writeNewFile(headerFile, bytes: Array("Authorization: Bearer \(token)\nAccept: application/json\n".utf8))
        var decodeNote = ""
        for (name, call, curlRequest) in calls {
            var ours: [(Double, Double)] = []
            var theirs: [(Double, Double)] = []
            for _ in 0..<rounds {
                ours.append(try measureOurs(client, call))
                theirs.append(try measureCurl(curl, caFile: simulator.caFile, headerFile: headerFile, request: curlRequest, work: work))
            }
            let oursRate = median(ours.map(\.0)), oursCPU = median(ours.map(\.1))
            let curlRate = median(theirs.map(\.0)), curlCPU = median(theirs.map(\.1))
            if name == "GET Organizations" {
                // How much of the client's CPU is decoding the page into typed models (curl decodes nothing).
                let http = try HTTPClient(configuration: .init(trust: .caFile(simulator.caFile)), logger: logger)
                let body = try http.send(HTTPRequest(url: curlRequest.last!, headers: [("Authorization", "Bearer \(token)")])).body
                let data = Data(body)
                let cpu0 = Subprocess.cpu(RUSAGE_SELF)
                for _ in 0..<requests {
                    if version.pagesOrganizations {
                        _ = try JSONDecoder().decode(VB365OrganizationPage.self, from: data)
                    } else {
                        _ = try JSONDecoder().decode([VB365Organization].self, from: data)
                    }
                }
                decodeNote = String(format: "decoding one GET Organizations answer (%d bytes, %d organizations) into typed models: %.1f us of client CPU",
                                    body.count, organizations, (Subprocess.cpu(RUSAGE_SELF) - cpu0) / Double(requests) * 1e6)
            }
            print(pad(name, 27) + " " + pad("certvault", 9) + String(format: " %8.0f   %17.1f", oursRate, oursCPU))
            print(pad("", 27) + " " + pad("curl", 9) + String(format: " %8.0f   %17.1f   %28.2f   %9.2f", curlRate, curlCPU,
                                                                 oursRate / curlRate, oursCPU / curlCPU))
        }
        print("")
        print(decodeNote)
    }

    /// (requests per second, client CPU microseconds per request)
    func measureOurs(_ client: VB365Client, _ call: (VB365Client) throws -> Void) throws -> (Double, Double) {
        try call(client)  // warm: connection up
        let cpu0 = Subprocess.cpu(RUSAGE_SELF)
        let start = Date()
        for _ in 0..<requests { try call(client) }
        let wall = Date().timeIntervalSince(start)
        let cpu = Subprocess.cpu(RUSAGE_SELF) - cpu0
        return (Double(requests) / wall, cpu / Double(requests) * 1e6)
    }

    func measureCurl(_ curl: String, caFile: String, headerFile: String, request: [String], work: String) throws -> (Double, Double) {
        // One curl process, one connection reused for every request (--next keeps it).
        var arguments = ["-s", "-o", "/dev/null", "--cacert", caFile, "-H", "@\(headerFile)"] + request
        for _ in 1..<requests { arguments += ["--next", "-s", "-o", "/dev/null", "--cacert", caFile, "-H", "@\(headerFile)"] + request }
        // No secret in this argv: the token is in a 0600 header file.
        let cpu0 = Subprocess.cpu(RUSAGE_CHILDREN)
        let start = Date()
        let result = try Subprocess.run(curl, arguments)
        let wall = Date().timeIntervalSince(start)
        let cpu = Subprocess.cpu(RUSAGE_CHILDREN) - cpu0
        guard result.status == 0 else { throw ValidationError("curl failed with exit code \(result.status)") }
        return (Double(requests) / wall, cpu / Double(requests) * 1e6)
    }

    static func which(_ name: String) -> String? {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func curlVersion(_ curl: String) -> String {
        guard let result = try? Subprocess.run(curl, ["--version"]) else { return "?" }
        return String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "?"
    }

    func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
