#include "status_page.h"

#include <cstdio>

namespace sluice::fleet::metrics {

std::string JsonQuote(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      o += buf;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

const char kStatusPageHtml[] = R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>sluice-allotter</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 8px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:10px 0}
h2{font-size:16px;margin:0 0 6px}
.figs span{margin-right:16px}
.figs b{font-variant-numeric:tabular-nums}
table{border-collapse:collapse;margin:6px 0}
td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left}
.learning{color:#a60}.fallback{color:#c00}.err{color:#c00}
svg{background:#fff;border:1px solid #eee}
.legend span{margin-right:12px}
</style></head>
<body>
<h1>sluice-allotter <span class="figs">epoch <b id="epoch">-</b>
 hosts <b id="hosts">-</b> <span id="mode"></span></span></h1>
<div id="err" class="err"></div>
<div id="resources"></div>
<script>
"use strict";
const COLORS=["#1f77b4","#d62728","#2ca02c","#9467bd","#ff7f0e","#8c564b","#e377c2","#17becf"];
function el(tag,attrs,kids){
  const svg=["svg","path","line","text","g","polyline"].includes(tag);
  const e=svg?document.createElementNS("http://www.w3.org/2000/svg",tag):document.createElement(tag);
  for(const k in attrs||{})e.setAttribute(k,attrs[k]);
  for(const c of kids||[])e.append(typeof c==="object"?c:document.createTextNode(String(c)));
  return e;
}
function fmt(x){return x==null?"-":(Number.isInteger(x)?String(x):x.toFixed(1));}
function fig(label,cls,v){return el("span",{},[label+" ",el("b",{class:cls},[fmt(v)])]);}
// One colour per host, the same in the table and the chart.
function colours(r){
  const names=[...new Set([...r.hosts.map(x=>x.host),...Object.keys(r.history.hosts)])].sort();
  const m={};
  names.forEach((n,i)=>{m[n]=COLORS[i%COLORS.length];});
  return m;
}
function chart(r,col){
  const W=640,H=180,L=40,B=20,h=r.history,t=h.t;
  const s=el("svg",{width:W,height:H,viewBox:"0 0 "+W+" "+H,class:"chart"});
  const span=Math.max(60,t.length?-t[0]:0);
  let top=r.limit;
  for(const n in h.hosts)for(const k of ["in_force","want"])
    for(const v of h.hosts[n][k])if(v!=null&&v>top)top=v;
  top=top||1;
  const X=a=>L+(W-L-4)*(1+a/span),Y=v=>H-B-(H-B-6)*v/top;
  s.append(el("line",{x1:L,y1:Y(r.limit),x2:W-4,y2:Y(r.limit),stroke:"#999","stroke-dasharray":"2 3"}));
  s.append(el("text",{x:2,y:Y(r.limit)+4,"font-size":11},["limit"]));
  s.append(el("text",{x:2,y:H-B+4,"font-size":11},["0"]));
  s.append(el("text",{x:L,y:H-4,"font-size":11},["-"+Math.round(span)+" s"]));
  s.append(el("text",{x:W-30,y:H-4,"font-size":11},["now"]));
  for(const n of Object.keys(h.hosts).sort()){
    const c=col[n];
    for(const k of ["in_force","want"]){
      let d="",pen=false;
      h.hosts[n][k].forEach((v,j)=>{
        if(v==null){pen=false;return;}
        d+=(pen?"L":"M")+X(t[j]).toFixed(1)+" "+Y(v).toFixed(1);
        pen=true;
      });
      if(d)s.append(el("path",{d:d,fill:"none",stroke:c,"stroke-width":k==="in_force"?2:1,
        "stroke-dasharray":k==="want"?"4 3":"","data-host":n,"data-series":k}));
    }
  }
  return s;
}
function render(st){
  document.getElementById("epoch").textContent=String(st.epoch);
  document.getElementById("hosts").textContent=String(st.hosts);
  document.getElementById("mode").textContent=st.learning?"learning":"";
  document.getElementById("mode").className=st.learning?"learning":"";
  const root=document.getElementById("resources");
  root.replaceChildren();
  for(const r of st.resources){
    const fb=r.hosts.filter(x=>x.on_fallback).length;
    const col=colours(r);
    const rows=r.hosts.map(x=>el("tr",{"data-host":x.host},[
      el("td",{},[el("span",{style:"color:"+col[x.host]},["\u25a0 "]),x.host]),
      el("td",{class:"share"},[fmt(x.share)]),el("td",{class:"in_force"},[fmt(x.in_force)]),
      el("td",{class:"want"},[fmt(x.want)]),el("td",{class:"fallback_amount"},[fmt(x.fallback)]),
      el("td",{class:x.on_fallback?"state fallback":"state"},
        [x.on_fallback?"on fallback":(x.live?"live":"silent")])]));
    root.append(el("section",{"data-resource":r.name},[
      el("h2",{},[r.name," ",el("span",{class:"learning"},[r.learning?"learning":""])]),
      el("div",{class:"figs"},[fig("limit","limit",r.limit),fig("reserved","reserved",r.reserved),
        fig("wanted","wanted",r.wanted),fig("handed out","handed_out",r.handed_out),
        fig("waste","waste",r.waste),fig("headroom","headroom",r.headroom),
        fig("on fallback","fallbacks",fb)]),
      el("table",{},[el("tr",{},["host","share","in force","demand","fallback","state"]
        .map(x=>el("th",{},[x]))),...rows]),
      chart(r,col),
      el("div",{class:"legend"},[el("span",{},["solid: in force"]),
        el("span",{},["dashed: demand (per unit)"])])]));
  }
}
async function poll(){
  try{
    const res=await fetch("status.json",{cache:"no-store"});
    render(await res.json());
    document.getElementById("err").textContent="";
  }catch(e){document.getElementById("err").textContent="cannot reach the allotter: "+e;}
  setTimeout(poll,1000);
}
poll();
</script>
</body></html>
)html";

}  // namespace sluice::fleet::metrics
