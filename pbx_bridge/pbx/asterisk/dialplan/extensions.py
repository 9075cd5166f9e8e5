"""`extensions_pbx_bridge.conf`: the contexts that hand every call to the bridge. Pure.

The protocol (each round is one short FastAGI session; Asterisk's own applications do the
work, so the dialplan sees DIALSTATUS and the AGI session never spans a call):

    pbx-bridge-inbound / -phones   PBXB_NUMBER, PBXB_ORIGIN ("trunk" or the phone's endpoint)
      -> pbx-bridge-start          PBXB_T0 (epoch), hangup handler
      -> pbx-bridge-step           AGI(step, origin, number, position, status, t0)
           sets PBXB_ACTION, PBXB_POS and the action's variables, then
      -> pbx-bridge-<action>       dial | queue | menu | voicemail | record | end
           each sets PBXB_STATUS (DIALSTATUS, QUEUESTATUS, KEY<d>/TIMEOUT, DONE) and goes
           back to pbx-bridge-step, or hangs up.
    pbx-bridge-hangup (handler)    AGI(finished, ...) when a message or recording was made:
                                   the bridge queues the file for delivery; a policy recording
                                   (PBXB_POLICYREC) is stopped and reported as closed on AMI.

Only config-derived values and Asterisk's own (EXTEN filtered to digits, DIALSTATUS, the
uniqueid) travel as AGI arguments; caller ID text never enters an expression or a path.
"""

from __future__ import annotations

PHONES = "pbx-bridge-phones"
INBOUND = "pbx-bridge-inbound"
FEATURES = "pbx-bridge-features"
MAX_HOPS = 50  # AGI rounds per call: a voice menu replayed on bad keys, ring group failovers
VOICEMAIL_MAX_SECONDS = 180


def _entry(context: str, origin: str, comment: str) -> str:
    body = ""
    for pattern in ("_X", "_X."):
        body += (f"exten => {pattern},1,Set(PBXB_NUMBER=${{FILTER(0-9,${{EXTEN}})}})\n"
                 f" same => n,Set(PBXB_ORIGIN={origin})\n"
                 " same => n,Goto(pbx-bridge-start,s,1)\n")
    body += "exten => _+X.,1,Goto(${CONTEXT},${FILTER(0-9,${EXTEN})},1)\n"
    return f"; {comment}\n[{context}]\n{body}"


def render(agi: str, sounds_dir: str) -> str:
    """`agi`: host:port of the bridge's FastAGI server; `sounds_dir`: the greetings' folder
    as Asterisk sees it (both validated by the caller)."""
    url = f"agi://{agi}"
    step_args = ("${PBXB_ORIGIN},${PBXB_NUMBER},${PBXB_POS},${PBXB_STATUS},${PBXB_T0},"
                 "${CHANNEL(linkedid)}")
    done_args = "${PBXB_ORIGIN},${PBXB_NUMBER},${PBXB_T0},${PBXB_MSGPOS},${PBXB_RECPOS}"
    sound = f'${{IF($["${{PBXB_SOUND}}" = ""]?silence/1:{sounds_dir}/${{PBXB_SOUND}})}}'
    inbound = _entry(INBOUND, "trunk", "The operator's trunk sends each DID here (E.164 "
                                       "digits, with or without '+').")
    phones = _entry(PHONES, "${CHANNEL(endpoint)}", "Calls from the generated endpoints: "
                                                    "internal numbers, DIDs, external numbers.")
    return f"""{inbound}
{phones}include => {FEATURES}

; Feature codes (transfers, record on demand) come with the next issue; this is their hook.
[{FEATURES}]
exten => pbx-bridge-no-feature,1,Hangup()

[pbx-bridge-nowhere]
exten => s,1,Hangup(21)

[pbx-bridge-start]
exten => s,1,Set(PBXB_T0=${{EPOCH}})
 same => n,Set(PBXB_HOPS=0)
 same => n,Set(PBXB_POS=)
 same => n,Set(PBXB_STATUS=)
 same => n,Set(CHANNEL(hangup_handler_push)=pbx-bridge-hangup,s,1)
 same => n,Goto(pbx-bridge-step,s,1)

; One round: the bridge decides the next step and sets PBXB_ACTION and its variables.
[pbx-bridge-step]
exten => s,1,Set(PBXB_HOPS=$[${{PBXB_HOPS}} + 1])
 same => n,GotoIf($[${{PBXB_HOPS}} > {MAX_HOPS}]?stop)
 same => n,Set(PBXB_ACTION=)
 same => n,Set(PBXB_SOUND=)
 same => n,AGI({url}/step,{step_args})
 same => n,GotoIf($["${{PBXB_ACTION}}" = ""]?stop)
 same => n,Set(PBXB_SOUNDFILE={sound})
 same => n,Goto(pbx-bridge-${{PBXB_ACTION}},s,1)
 same => n(stop),Hangup()

; Ring a contact method, a ring group (parallel) or a trunk number. PBXB_REC (set by the
; bridge when the recording policy asks) starts the call's recording on this leg, the caller's,
; which stays through transfers; once per channel: a blind transfer re-runs this on the same
; channel, and PBXB_POLICYREC is then already set.
[pbx-bridge-dial]
exten => s,1,GotoIf($["${{PBXB_REC}}" = "" | "${{PBXB_POLICYREC}}" != ""]?dial)
 same => n,Set(PBXB_POLICYREC=${{PBXB_REC}})
 same => n,MixMonitor(${{PBXB_REC}}.wav,i(PBXB_RECID))
 same => n(dial),Dial(${{PBXB_DIAL}},${{PBXB_TIMEOUT}},${{PBXB_DIALOPTS}})
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?done)
 same => n,Set(PBXB_STATUS=${{DIALSTATUS}})
 same => n,Goto(pbx-bridge-step,s,1)
 same => n(done),Hangup()

; A queue (queues_pbx_bridge.conf); PBXB_TIMEOUT is the module's max_wait. PBXB_REC as in
; pbx-bridge-dial (the caller's own flags: who of the members answers is not known yet).
[pbx-bridge-queue]
exten => s,1,GotoIf($["${{PBXB_REC}}" = "" | "${{PBXB_POLICYREC}}" != ""]?queue)
 same => n,Set(PBXB_POLICYREC=${{PBXB_REC}})
 same => n,MixMonitor(${{PBXB_REC}}.wav,i(PBXB_RECID))
 same => n(queue),Set(QUEUESTATUS=)
 ; tT + gosub: feature codes for the legs that may have them (dialplan/feature_codes.py)
 same => n,Queue(${{PBXB_QUEUE}},rtT,,,${{PBXB_TIMEOUT}},,pbx-bridge-callee)
 same => n,GotoIf($["${{QUEUESTATUS}}" = ""]?done)
 same => n,Set(PBXB_STATUS=${{QUEUESTATUS}})
 same => n,Goto(pbx-bridge-step,s,1)
 same => n(done),Hangup()

; A voice menu: the greeting, then one key within PBXB_TIMEOUT seconds.
[pbx-bridge-menu]
exten => s,1,Answer()
 same => n,Set(PBXB_KEY=)
 same => n,Read(PBXB_KEY,${{PBXB_SOUNDFILE}},1,,1,${{PBXB_TIMEOUT}})
 same => n,Set(PBXB_STATUS=TIMEOUT)
 same => n,ExecIf($["${{PBXB_KEY}}" != ""]?Set(PBXB_STATUS=KEY${{PBXB_KEY}}))
 same => n,Goto(pbx-bridge-step,s,1)

; Voicemail: the greeting, then the message into PBXB_FILE (named from the uniqueid).
[pbx-bridge-voicemail]
exten => s,1,Answer()
 same => n,GotoIf($["${{PBXB_SOUND}}" = ""]?record)
 same => n,Playback(${{PBXB_SOUNDFILE}})
 same => n(record),Set(PBXB_MESSAGE=${{PBXB_FILE}})
 same => n,Set(PBXB_MSGPOS=${{PBXB_POS}})
 same => n,Record(${{PBXB_FILE}}.wav,0,{VOICEMAIL_MAX_SECONDS},k)
 same => n,Hangup()

; A call recorder: record the whole call from here on, then the next module.
[pbx-bridge-record]
exten => s,1,MixMonitor(${{PBXB_FILE}}.wav)
 same => n,Set(PBXB_CALLREC=${{PBXB_FILE}})
 same => n,Set(PBXB_RECPOS=${{PBXB_POS}})
 same => n,Set(PBXB_STATUS=DONE)
 same => n,Goto(pbx-bridge-step,s,1)

; The end of a call, or a refusal (PBXB_CAUSE 21: the phone sees 403 Forbidden).
[pbx-bridge-end]
exten => s,1,Hangup(${{PBXB_CAUSE}})

; Runs when the caller is gone: hand a message or a recording to the bridge for delivery.
[pbx-bridge-hangup]
exten => s,1,GotoIf($["${{PBXB_POLICYREC}}" = ""]?files)
 ; the policy recording: closed here, then reported to the bridge's AMI side, which owns it
 same => n,StopMixMonitor(${{PBXB_RECID}})
 same => n,UserEvent(PbxBridgeRecordingClosed,File: ${{PBXB_POLICYREC}}.wav)
 same => n(files),GotoIf($["${{PBXB_MESSAGE}}${{PBXB_CALLREC}}" = ""]?done)
 ; StopMixMonitor closes the recording file before returning: it is complete for the bridge
 same => n,ExecIf($["${{PBXB_CALLREC}}" != ""]?StopMixMonitor())
 same => n,AGI({url}/finished,{done_args})
 same => n(done),Return()
"""
