"""How much audio after the end of speech Whisper needs: transcribes 16 Piper-spoken questions and the 32 espeak-ng
utterances of asr_parity.py cut 0.06, 0.1, 0.2 and 0.3 s after their last loud frame (beam 5), and prints the WER of
each against the text. It chose EnergyVAD's pauseNotice (when recognition starts). Dev only; run through
scripts/asr_trailing.sh after scripts/asr_parity.sh has made the espeak-ng utterances."""
import subprocess, json, os, sys, re, wave, numpy as np
ROOT=os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONFAB=os.path.join(ROOT, ".build/release/confab")
WORK=os.path.join(ROOT, "scripts/.asr-trailing"); os.makedirs(WORK, exist_ok=True); os.chdir(WORK)
Q=["What is the capital of France?","How many days are there in a week?","What color is the sky on a clear day?","Who wrote Romeo and Juliet?",
"What is two plus two?","At what temperature does water boil?","What is the tallest mountain in the world?","Can you give me a tip for sleeping better?",
"How many legs does a spider have?","What is the largest planet in our solar system?","Turn off the lights in the kitchen.","Set a timer for ten minutes.",
"Remind me to call my mother at six.","How far away is the moon?","Tell me a joke about computers.","Why is the sky blue?"]
def read(p):
    w=wave.open(p); n=w.getnframes(); sr=w.getframerate(); ch=w.getnchannels()
    x=np.frombuffer(w.readframes(n),dtype=np.int16).astype(np.float32)/32768
    if ch>1: x=x.reshape(-1,ch).mean(1)
    return x,sr
def write(p,x,sr):
    w=wave.open(p,"wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(sr)
    w.writeframes((np.clip(x,-1,1)*32767).astype(np.int16).tobytes()); w.close()
items=[]
for i,q in enumerate(Q):
    p=f"piper{i:02d}.wav"
    if not os.path.exists(p): subprocess.run([CONFAB,"say","-o",p,q],check=True,capture_output=True)
    items.append((p,q))
esp=os.path.join(ROOT,"scripts/.asr-utterances")
sents=open(os.path.join(ROOT,"scripts/asr_parity.py")).read()
S=eval(sents[sents.index("SENTENCES = [")+12:sents.index("]\nVOICES")+1])
for i,t in enumerate(S): items.append((f"{esp}/u{i:02d}.wav",t))
def norm(s): return re.sub(r"[^a-z0-9' ]+"," ",s.lower()).split()
def wer(r,h):
    r,h=norm(r),norm(h); d=list(range(len(h)+1))
    for i in range(1,len(r)+1):
        prev,d[0]=d[0],i
        for j in range(1,len(h)+1):
            cur=min(d[j]+1,d[j-1]+1,prev+(r[i-1]!=h[j-1])); prev,d[j]=d[j],cur
    return d[len(h)],len(r)
res={}
for X in [0.06,0.1,0.2,0.3]:
    paths=[]
    for k,(p,t) in enumerate(items):
        x,sr=read(p)
        # 16 kHz for everything
        if sr!=16000:
            idx=np.arange(0,len(x)*16000//sr)*sr/16000; x=np.interp(idx,np.arange(len(x)),x); sr=16000
        fr=320; e=[10*np.log10(np.mean(x[i:i+fr]**2)+1e-12) for i in range(0,len(x)-fr,fr)]
        last=max(i for i,v in enumerate(e) if v>max(e)-35)
        end=(last+1)*fr+int(X*sr)
        y=x[:end]
        if len(y)<end: y=np.concatenate([y,np.zeros(end-len(y),np.float32)])
        q=f"t{k:02d}_{X}.wav"; write(q,y,sr); paths.append(q)
    out=json.loads(subprocess.run([CONFAB,"transcribe","--beam","5","--json",*paths],check=True,capture_output=True,text=True).stdout)
    hyps=[o["text"] for o in out]
    res[X]=hyps
    E=N=0
    for (p,t),h in zip(items,hyps): a,b=wer(t,h); E+=a; N+=b
    print(f"trailing {X:.2f} s: WER vs truth {100*E/N:.2f}%  (piper 16: {100*sum(wer(t,h)[0] for (p,t),h in list(zip(items,hyps))[:16])/sum(len(norm(t)) for p,t in items[:16]):.2f}%)",flush=True)
for k,(p,t) in enumerate(items):
    hs=[res[X][k] for X in res]
    if len(set(hs))>1: print(t, "|", " | ".join(hs))
