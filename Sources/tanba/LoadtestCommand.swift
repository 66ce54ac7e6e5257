import ArgumentParser
import Foundation
import Synchronization
import TanbaCore
import TanbaWire

struct LoadtestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest", abstract: "Load tests against a running cluster.", subcommands: [LoadtestBurst.self])
}

/// `tanba loadtest burst`: enrolls a synthetic gallery (template-level generator,
/// impression 0 of persons 0…N-1; persons already enrolled are kept), then fires
/// identification requests (impression 1 of a person, mated probes) with a fixed number in
/// flight, and prints one JSON object.
///
/// Counting: `ok` = complete answers, `partial` = answers marked partial, `errors` =
/// requests that failed (transport or ERROR answer); requests = ok + partial + errors.
/// `rank1_hit_rate` = answers whose first candidate is the probe's person / (ok + partial).
struct LoadtestBurst: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "burst", abstract: "Enroll a synthetic gallery, then fire identification bursts; print one JSON object.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Persons in the synthetic gallery.") var persons: Int = 1000
    @Option(help: "Identification requests.") var requests: Int = 1000
    @Option(help: "Requests in flight at once.") var concurrency: Int = 16
    @Option(help: "Fingers per enrollment and probe (1-10).") var fingers: Int = 10
    @Flag(help: "Do not enroll (the gallery is already there).") var skipEnroll = false
    @Flag(help: "Print only the JSON object.") var json = false

    func validate() throws {
        guard persons > 0, requests > 0, concurrency > 0 else { throw ValidationError("persons, requests and concurrency must be > 0") }
        guard (1...10).contains(fingers) else { throw ValidationError("--fingers must be 1-10") }
    }

    /// Runs `count` jobs with at most `width` in flight.
    static func pool(count: Int, width: Int, _ job: @escaping @Sendable (Int) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(width, count) { let i = next; group.addTask { await job(i) }; next += 1 }
            while await group.next() != nil {
                if next < count { let i = next; group.addTask { await job(i) }; next += 1 }
            }
        }
    }

    func run() async throws {
        let (caller, c, transport) = try client.caller()
        defer { transport.shutdown() }
        let deadline = Duration.milliseconds(c.deadlineMs)
        let fingers = self.fingers, persons = self.persons
        func log(_ s: String) { if !json { FileHandle.standardError.write(Data((s + "\n").utf8)) } }

        if !skipEnroll {
            let enrolled = Atomic<Int>(0), held = Atomic<Int>(0), failed = Atomic<Int>(0)
            let start = ContinuousClock.now
            await Self.pool(count: persons, width: concurrency) { p in
                // Fingers beyond --fingers are excepted with a reason: the coordinator refuses a
                // ten-print with fingers neither captured nor excepted [BIO 6, 7].
                let request = WireMessage.enroll(EnrollRequest(iin: Synthetic.iin(person: p),
                                                               record: Synthetic.record(person: p, impression: 0, fingers: fingers),
                                                               exceptions: FingerPosition.tenPrint.dropFirst(fingers).map {
                                                                   FingerException(position: $0, kind: .bandaged, reason: "load test: not captured")
                                                               }))
                do {
                    // Written consent first, as a station sends it [BIO 3]: no ENROLL without it.
                    _ = try await caller.call(try ClientOptions.consent(iin: Synthetic.iin(person: p), signedBy: caller.identity, branch: "loadtest"),
                                              to: c.coordinatorName, at: c.coordinator, deadline: deadline)
                    guard case .enrollAnswer(let a) = try await caller.call(request, to: c.coordinatorName, at: c.coordinator, deadline: deadline) else {
                        failed.add(1, ordering: .relaxed); return
                    }
                    if a.outcome == .heldForAdjudication { held.add(1, ordering: .relaxed) } else { enrolled.add(1, ordering: .relaxed) }
                } catch {
                    failed.add(1, ordering: .relaxed)
                    FileHandle.standardError.write(Data("enroll \(p): \(error)\n".utf8))
                }
            }
            log("enrolled \(enrolled.load(ordering: .relaxed)) persons (\(held.load(ordering: .relaxed)) held, \(failed.load(ordering: .relaxed)) failed) in \(ContinuousClock.now - start)")
        }

        let latencies = Mutex<[Double]>([])
        let ok = Atomic<Int>(0), partial = Atomic<Int>(0), errors = Atomic<Int>(0), hits = Atomic<Int>(0)
        let start = ContinuousClock.now
        await Self.pool(count: requests, width: concurrency) { i in
            let person = (i &* 7919) % persons
            let probe = Synthetic.record(person: person, impression: 1 + i % 3, fingers: fingers)
            let t0 = ContinuousClock.now
            do {
                let answer = try await caller.call(.identify(IdentifyRequest(probe: probe, topK: 10)), to: c.coordinatorName,
                                                   at: c.coordinator, deadline: deadline)
                let ms = (ContinuousClock.now - t0).milliseconds
                latencies.withLock { $0.append(ms) }
                guard case .identifyAnswer(let a) = answer else { errors.add(1, ordering: .relaxed); return }
                if a.coverage.isPartial { partial.add(1, ordering: .relaxed) } else { ok.add(1, ordering: .relaxed) }
                if a.candidates.first?.iin == Synthetic.iin(person: person) { hits.add(1, ordering: .relaxed) }
            } catch {
                errors.add(1, ordering: .relaxed)
                FileHandle.standardError.write(Data("identify \(i): \(error)\n".utf8))
            }
        }
        let elapsed = (ContinuousClock.now - start).milliseconds / 1000
        let sorted = latencies.withLock { $0 }.sorted()
        func percentile(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)]
        }
        let answered = ok.load(ordering: .relaxed) + partial.load(ordering: .relaxed)
        let result: [String: Any] = [
            "persons": persons, "requests": requests, "concurrency": concurrency,
            "ok": ok.load(ordering: .relaxed), "errors": errors.load(ordering: .relaxed), "partial": partial.load(ordering: .relaxed),
            "throughput_rps": Self.round(Double(answered) / max(elapsed, 1e-9)),
            "p50_ms": Self.round(percentile(0.5)), "p95_ms": Self.round(percentile(0.95)), "p99_ms": Self.round(percentile(0.99)),
            "rank1_hit_rate": Self.round(answered == 0 ? 0 : Double(hits.load(ordering: .relaxed)) / Double(answered), places: 4),
        ]
        let keys = ["persons", "requests", "concurrency", "ok", "errors", "partial", "throughput_rps", "p50_ms", "p95_ms", "p99_ms", "rank1_hit_rate"]
        print("{" + keys.map { "\"\($0)\": \(result[$0]!)" }.joined(separator: ", ") + "}")
    }

    static func round(_ v: Double, places: Int = 2) -> Double {
        let f = pow(10, Double(places))
        return (v * f).rounded() / f
    }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) * 1e-15 }
}
