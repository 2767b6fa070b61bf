import ArgumentParser
import CertVaultCore
import CertVaultVault
import Foundation

/// Onboards N tenants against the simulator (sign-in simulated at once) with `certvault onboard
/// start --from FILE --wait`, and the same calls made by a minimal shell script with `openssl`
/// and `curl` (the by-hand way: key and certificate, PKCS#12, base64, DeviceCode, check,
/// Organizations), in the same run. Reports wall time and client CPU per tenant, and ratios.
/// The simulator is a separate process, so its work is in neither side's CPU.
struct OnboardingBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onboarding",
        abstract: "Onboard N tenants with certvault and with an openssl+curl shell script against the simulator; wall time and CPU per tenant."
    )

    @Option(help: "Tenants per side.") var tenants = 500
    @Option(help: "certvault's --jobs.") var jobs = 8
    @Option(help: "Parallel workers for the shell script (1: one tenant after another, as by hand).") var scriptJobs = 1
    @Option(help: "API version served by the simulator.") var apiVersion = "v8"
    @Option(help: ArgumentHelp(
        "Instead of the script comparison: onboard --tenants against vaults pre-filled with these many generations "
            + "(comma separated, e.g. 0,100000), each with a fresh simulator, and report time and peak memory against the first.",
        valueName: "n,n"))
    var vaultSizes: String?

    func run() throws {
        if let vaultSizes {
            try againstVaultSizes(vaultSizes.split(separator: ",").compactMap { Int($0) })
            return
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("certvault-bench-onboarding-\(getpid())").path
        try PrivateFiles.makePrivateDirectory(work)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let binary = try Subprocess.certvault()
        let simulator = try BenchSimulator(apiVersion: apiVersion, work: work)
        defer { simulator.stop() }
        let (url, ca, passwordFile) = (simulator.url, simulator.caFile, simulator.passwordFile)

        // certvault: a vault, then one command for every tenant.
        var csv = "tenant,org_name,display_name\n"
        for index in 0..<tenants { csv += "cv\(index),cv\(index).onmicrosoft.com,CV \(index)\n" }
        try PrivateFiles.writeNewFile("\(work)/tenants.csv", bytes: Array(csv.utf8))
        let env = ["CERTVAULT_VAULT": "\(work)/vault", "CERTVAULT_KEY_FILE": "\(work)/key/root.key", "CERTVAULT_ONBOARDING": "\(work)/onboarding",
                   "CERTVAULT_VB365_URL": url, "CERTVAULT_VB365_USER": "VB365\\admin"]
        _ = try Subprocess.check(binary, ["init"], env: env)
        let ours = try Self.measure {
            try Subprocess.check(binary, ["onboard", "start", "--from", "\(work)/tenants.csv", "--jobs", "\(jobs)", "--wait", "3600", "--json",
                                  "--ca-file", ca, "--vb365-password-file", passwordFile, "--policy", "policy/default.toml"], env: env)
        }

        // The by-hand way, as a shell script.
        let script = "\(work)/by-hand.sh"
        try PrivateFiles.writeNewFile(script, bytes: Array(Self.script.utf8))
        let theirs = try Self.measure {
            try Subprocess.check("/bin/sh", [script, url, ca, passwordFile, apiVersion, "\(tenants)", "\(scriptJobs)", "\(work)/by-hand"], env: [:])
        }
        let organizations = try Subprocess.check("/usr/bin/env", ["curl", "-s", "--cacert", ca, "\(url)/_simulator/organizations"], env: [:])
        let stored = (try? JSONSerialization.jsonObject(with: organizations.stdout) as? [[String: Any]])?.count ?? -1

        print("Onboarding \(tenants) tenants per side against the simulator (API \(apiVersion), sign-in simulated at once, RSA-2048, 3DES PFX)")
        print("organizations in the simulator afterwards: \(stored) (expected \(2 * tenants))")
        print("")
        print("side                                   wall s   per tenant ms   client CPU per tenant ms")
        print(String(format: "certvault onboard --from --jobs %-4d %9.1f   %13.1f   %24.1f", jobs, ours.wall, ours.wall / Double(tenants) * 1000,
                     ours.cpu / Double(tenants) * 1000))
        print(String(format: "openssl + curl script, %2d worker(s) %9.1f   %13.1f   %24.1f", scriptJobs, theirs.wall,
                     theirs.wall / Double(tenants) * 1000, theirs.cpu / Double(tenants) * 1000))
        print(String(format: "ratio certvault/script                %7.2f   %13.2f   %24.2f", ours.wall / theirs.wall, ours.wall / theirs.wall,
                     ours.cpu / theirs.cpu))
    }

    /// Bulk onboarding of the same number of tenants into vaults of different sizes: with a
    /// per-tenant lookup the cost must not grow with the vault.
    func againstVaultSizes(_ sizes: [Int]) throws {
        let binary = try Subprocess.certvault()
        print("Bulk onboarding of \(tenants) tenants (--jobs \(jobs), API \(apiVersion), sign-in simulated at once) into vaults pre-filled "
            + "with synthetic generations; wall time and peak RSS of the certvault process (/usr/bin/time)")
        print("")
        print("vault generations    fill s    onboard wall s   per tenant ms   peak RSS MiB   ratio wall   ratio RSS")
        var baseline: (wall: Double, rss: Double)?
        for size in sizes {
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("certvault-bench-onboarding-\(getpid())-\(size)").path
            try PrivateFiles.makePrivateDirectory(work)
            defer { try? FileManager.default.removeItem(atPath: work) }
            let simulator = try BenchSimulator(apiVersion: apiVersion, work: work)
            defer { simulator.stop() }
            var csv = "tenant,org_name,display_name\n"
            for index in 0..<tenants { csv += "ob\(index),ob\(index).onmicrosoft.com,OB \(index)\n" }
            try PrivateFiles.writeNewFile("\(work)/tenants.csv", bytes: Array(csv.utf8))
            let env = ["CERTVAULT_VAULT": "\(work)/vault", "CERTVAULT_KEY_FILE": "\(work)/key/root.key", "CERTVAULT_ONBOARDING": "\(work)/onboarding",
                       "CERTVAULT_VB365_URL": simulator.url, "CERTVAULT_VB365_USER": "VB365\\admin"]
            _ = try Subprocess.check(binary, ["init"], env: env)
            let fillStart = Date()
            if size > 0 {
                let vault = try Vault.open(at: "\(work)/vault", unlock: .keyFile(path: "\(work)/key/root.key"), actor: "bench")
                _ = try vault.fillSynthetic(tenants: size, prefix: "filler")
            }
            let fill = Date().timeIntervalSince(fillStart)
            let start = Date()
            _ = try Subprocess.check("/usr/bin/time", ["-f", "%M", "-o", "\(work)/rss", binary, "onboard", "start", "--from", "\(work)/tenants.csv",
                                                       "--jobs", "\(jobs)", "--wait", "3600", "--json", "--ca-file", simulator.caFile,
                                                       "--vb365-password-file", simulator.passwordFile, "--policy", "policy/default.toml"], env: env)
            let wall = Date().timeIntervalSince(start)
            let rssText = (try? String(contentsOfFile: "\(work)/rss", encoding: .utf8)) ?? ""
            let rss = (Double(rssText.split(separator: "\n").last.map(String.init) ?? "") ?? 0) / 1024
            let base = baseline ?? (wall, rss)
            baseline = base
            print(String(format: "%17d %9.1f %17.1f %15.1f %14.1f %12.2f %11.2f", size, fill, wall, wall / Double(tenants) * 1000, rss,
                         wall / base.wall, rss / base.rss))
        }
    }

    static let script = #"""
        #!/bin/sh
        # The by-hand way, minimal: per tenant a key and certificate with openssl, a PFX with a
        # random password, base64, a device code, the (simulated) sign-in check, the add.
        # No vault and no audit: what certvault replaces. (Even here no password goes on a
        # command line: they travel in 0600 files.)
        set -eu
        umask 077
        url=$1 ca=$2 pwfile=$3 v=$4 n=$5 jobs=$6 dir=$7
        mkdir -p "$dir"; cd "$dir"
        af=""; [ "$v" != "v6" ] && af="&disable_antiforgery_token=true"
        (curl -s --cacert "$ca" --data-urlencode "grant_type=password" --data-urlencode 'username=VB365\admin' \
                --data-urlencode "password@$pwfile" -d "x=1$af" "$url/$v/token" | sed 's/.*"access_token" *: *"\([^"]*\)".*/Authorization: Bearer \1/' > auth)
        one() {
            t=sh$1
            openssl req -x509 -newkey rsa:2048 -nodes -keyout $t.key -out $t.crt -days 730 -sha256 -subj "/CN=$t" 2>/dev/null
            p=$(openssl rand -hex 16)
            printf '%s' "$p" > $t.pw
            openssl pkcs12 -export -inkey $t.key -in $t.crt -name "$t" -passout file:$t.pw -out $t.pfx \
                -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -iter 10000
            b64=$(base64 -w0 $t.pfx)
            code=$(curl -s --cacert "$ca" -H @auth -H 'Content-Type: application/json' \
                   -d '{"targetRegion":"Worldwide"}' "$url/$v/DeviceCode" | sed 's/.*"userCode" *: *"\([^"]*\)".*/\1/')
            curl -s --cacert "$ca" -H @auth -H 'Content-Type: application/json' \
                 -d "{\"userCode\":\"$code\"}" "$url/$v/DeviceCode/check" >/dev/null
            s="{\"useApplicationOnlyAuth\":true,\"applicationCertificate\":\"$b64\",\"applicationCertificatePassword\":\"$p\"}"
            printf '{"type":"Office365","region":"Worldwide","officeName":"%s.onmicrosoft.com","userCode":"%s","newApplicationName":"%s","isExchangeOnline":true,"isSharePointOnline":true,"isTeamsOnline":true,"exchangeOnlineSettings":%s,"sharePointOnlineSettings":%s}' \
                "$t" "$code" "$t" "$s" "$s" > $t.json
            curl -s -o /dev/null --cacert "$ca" -H @auth -H 'Content-Type: application/json' \
                 --data-binary @$t.json "$url/$v/Organizations"
        }
        i=0
        while [ $i -lt "$n" ]; do
            j=0
            while [ $j -lt "$jobs" ] && [ $i -lt "$n" ]; do one $i & i=$((i + 1)); j=$((j + 1)); done
            wait
        done
        """#

    static func measure(_ body: () throws -> Subprocess.Output) throws -> (wall: Double, cpu: Double) {
        let cpu0 = Subprocess.cpu(RUSAGE_CHILDREN)
        let start = Date()
        _ = try body()
        return (Date().timeIntervalSince(start), Subprocess.cpu(RUSAGE_CHILDREN) - cpu0)
    }
}
