import { describe, expect, it } from "vitest";
import { ErrorText, isRetryableErrorText, noQuorumText, notLeaderText, parseErrorText, readOnlyText } from "./error-text.js";

describe("ErrorResponse texts", () => {
  it("writes NOT_LEADER exactly as upstream", () => {
    expect(notLeaderText("10.0.0.2:1992")).toBe("NOT_LEADER: redirect to 10.0.0.2:1992");
    expect(notLeaderText()).toBe("NOT_LEADER: leader unknown");
  });

  it("reads every prefix back", () => {
    expect(parseErrorText(notLeaderText("host-b:1992"))).toEqual({ kind: "notLeader", leader: "host-b:1992" });
    expect(parseErrorText(notLeaderText())).toEqual({ kind: "notLeader", leader: null });
    expect(parseErrorText(noQuorumText("2 of 3 nodes unreachable"))).toEqual({ kind: "noQuorum", detail: "2 of 3 nodes unreachable" });
    expect(parseErrorText("FORWARD_FAILED: Quorum not reached - required 2 ACKs, got 1")).toEqual({
      kind: "forwardFailed",
      detail: "Quorum not reached - required 2 ACKs, got 1",
    });
    expect(parseErrorText(readOnlyText())).toEqual({ kind: "readOnly", detail: "server is in read_only mode; writes are rejected" });
    expect(parseErrorText(ErrorText.AuthenticationRequired)).toEqual({ kind: "authenticationRequired" });
    expect(parseErrorText("Topic not found")).toEqual({ kind: "other", text: "Topic not found" });
  });

  it("keeps upstream's retry rule: NO_QUORUM and FORWARD_FAILED retry, NOT_LEADER and READ_ONLY do not", () => {
    expect(isRetryableErrorText(noQuorumText("x"))).toBe(true);
    expect(isRetryableErrorText("FORWARD_FAILED: Leader address unknown")).toBe(true);
    expect(isRetryableErrorText(notLeaderText("a:1"))).toBe(false);
    expect(isRetryableErrorText(readOnlyText())).toBe(false);
    expect(isRetryableErrorText("Unknown topic")).toBe(false);
  });
});
