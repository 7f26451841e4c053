# ruff: noqa: E501  (whole sentences stay on one line, as translators see them)
"""The portal's and console's words in Chinese (default) and English.

Source strings are English; :data:`ZH` holds their Chinese. ``tests/unit/appeals`` checks
that every ``_("...")`` of the templates and views has its Chinese here.
"""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
LANG_COOKIE = "fb_lang"

ZH: dict[str, str] = {
    "Skip to content": "跳到正文",
    "Language": "语言",
    "Appeal a measure on your account": "对账号处置措施提出申诉",
    "Free, online, a few minutes. No phone line, no queue, no police station.": "免费、在线，几分钟即可完成。无需打电话，无需排队，无需去派出所。",
    "Open the link in your notice, or enter your case number and the phone number bound to the account.": "请打开告知短信中的链接，或输入案件编号和账号绑定的手机号码。",
    "Case number": "案件编号",
    "For example FB-2019-000124": "例如 FB-2019-000124",
    "Phone number bound to the account": "账号绑定的手机号码",
    "Continue": "继续",
    "This link is not valid": "该链接无效",
    "Check that you opened the whole link from your notice, or enter your case number and phone number.": "请确认打开的是告知中的完整链接，或输入案件编号和手机号码。",
    "Prove it is your phone": "验证您的手机",
    "We send a 6-digit code to the phone bound to the account (%(phone)s). It is valid for 10 minutes.": "我们会向账号绑定的手机（%(phone)s）发送6位验证码，10分钟内有效。",
    "If the case number and the phone match, we have sent a 6-digit code to that phone.": "如果案件编号与手机号码相符，我们已向该手机发送6位验证码。",
    "Send the code": "发送验证码",
    "Send a new code": "重新发送验证码",
    "The code from the SMS": "短信中的验证码",
    "Check the code": "验证",
    "No phone is on file for this account. Enter your case number and phone number instead.": "该账号没有登记手机号码。请改为输入案件编号和手机号码。",
    "Wrong code. Try again.": "验证码错误，请重试。",
    "Too many wrong tries. Ask for a new code.": "错误次数过多，请重新获取验证码。",
    "The code has expired or was used. Ask for a new code.": "验证码已过期或已使用，请重新获取。",
    "Too many requests. Wait a while and try again.": "请求过于频繁，请稍后再试。",
    "Your session has ended. Please start again.": "您的会话已结束，请重新开始。",
    "The form has expired. Please try again.": "表单已过期，请重试。",
    "The service is busy. Please try again in a moment.": "服务繁忙，请稍后再试。",
    "Your case": "您的案件",
    "Measure in force": "当前措施",
    "suspend": "暂停使用",
    "restrict": "功能受限",
    "monitor": "观察",
    "lifted": "已解除",
    "State": "状态",
    "active": "生效中",
    "appealed": "申诉处理中",
    "upheld": "维持",
    "downgraded": "已减轻",
    "expired": "已到期",
    "proposed": "未执行",
    "Timeline": "办理过程",
    "Appeal": "申诉",
    "What happened?": "发生了什么？",
    "Choose every statement that fits. They help the reviewer; none is required to be proven.": "请选择所有符合的情况。这些说明供审核人员参考，无需证明。",
    "I have never been to these areas": "我从未去过这些地区",
    "I visited, but I do not run fraud": "我去过，但没有从事诈骗",
    "I live near the border": "我住在边境附近",
    "I was a victim of fraud": "我是诈骗的受害人",
    "I know the person who was involved": "我认识涉事的人",
    "Other": "其他",
    "In your own words (optional)": "用您自己的话说明（可选）",
    "Send the appeal": "提交申诉",
    "Choose at least one statement.": "请至少选择一项。",
    "A statement was not recognised.": "无法识别所选的说明。",
    "The text is too long.": "文字太长。",
    "Too many files.": "文件太多。",
    "A file is too large: %(name)s": "文件太大：%(name)s",
    "A file is not a photo or PDF: %(name)s": "文件不是照片或PDF：%(name)s",
    "A file is empty: %(name)s": "文件是空的：%(name)s",
    "This case cannot be appealed now.": "该案件目前无法申诉。",
    "Your appeal": "您的申诉",
    "Filed on": "提交时间",
    "Status": "状态",
    "received": "已收到，正在自动复核",
    "queued": "复核未能自动解除，等待工作人员决定",
    "granted": "申诉成立，措施已解除",
    "We are re-checking your case automatically. This usually takes less than a minute. Reload this page to see the result.": "系统正在自动复核您的案件，通常不到一分钟。请刷新本页查看结果。",
    "A reviewer decides by %(when)s at the latest (Beijing time).": "工作人员最迟将于%(when)s（北京时间）作出决定。",
    "Expected decision": "预计答复时间",
    "within a minute": "一分钟内",
    "Appeals ahead of yours": "排在您之前的申诉",
    "(at the %(rate)s appeals a second checked in the last minute)": "（按最近一分钟每秒复核%(rate)s件申诉的速度估计）",
    "not known yet: no automatic check finished in the last minute": "暂时无法估计：最近一分钟没有完成的自动复核",
    "Many people are appealing now. Your appeal is kept and checked in the order it came; reload this page to see the result.": "现在申诉的人很多。您的申诉已保存，将按提交顺序复核；请刷新本页查看结果。",
    "Decided on": "决定时间",
    "Reason": "理由",
    "Documents you sent": "您提交的材料",
    "Your data": "您的数据",
    "Your data stays yours. You can get a copy of everything the platform holds about the account, also while it is suspended.": "您的数据仍归您所有。即使账号被暂停，您也可以获取平台保存的该账号全部数据的副本。",
    "Request a copy of my data": "申请导出我的数据",
    "Your copy is ready.": "您的数据副本已准备好。",
    "Download": "下载",
    "The platform could not be reached. Please try again later.": "暂时无法连接平台，请稍后再试。",
    "Back to your case": "返回您的案件",
    "Sign out": "退出",
    "See the status of your appeal": "查看申诉进度",
    "Not found": "未找到",
    "Something went wrong on our side. Nothing you sent was lost; please try again.": "我们这边出了问题。您提交的内容不会丢失，请重试。",
    "appeal filed": "提交申诉",
    "measure in force": "措施生效",
    "Home": "首页",
    "(Beijing time)": "（北京时间）",
    "Documents (optional)": "材料（可选）",
    "Photos (JPEG, PNG, WebP, HEIC) or PDF, up to %(n)s files. A PDF may have %(mb)s MB; a larger photo (up to %(photo_mb)s MB) is made smaller for you.": "照片（JPEG、PNG、WebP、HEIC）或PDF，最多%(n)s个文件。PDF每个不超过%(mb)s MB；较大的照片（不超过%(photo_mb)s MB）会自动为您压缩。",
    "What you typed and ticked is kept: choose the files again.": "您填写和勾选的内容已保留，请重新选择文件。",
    "The decision on your appeal": "申诉决定",
    "Your appeal was granted: the measure is lifted on every platform and every linked account.": "您的申诉成立：措施已在所有平台、所有关联账号上解除。",
    "A reviewer reduced the measure to: %(measure)s.": "审核人员将措施减轻为：%(measure)s。",
    "A reviewer upheld the measure.": "审核人员决定维持措施。",
    "by a person": "由工作人员作出",
    "by the automatic re-check": "由自动复核作出",
    "The reviewer's reasons": "审核人员的理由",
    "A re-check with the information you gave found that the measure no longer holds.": "根据您提供的信息重新核查后，认定该措施已不再成立。",
    "Your accounts now": "您的账号现状",
    "What you can do next": "您接下来可以做什么",
    "Ask for a further review: appeal the remaining measure on your case page. A person decides again.": "申请再次复核：在案件页面对仍在执行的措施再次申诉，由工作人员重新决定。",
    "Appeal again": "再次申诉",
    "Complain to the authority that ordered the measure, %(issuer)s. Under art. 31 and 32 of the PRC Anti-Telecom and Online Fraud Law it must accept and check complaints, and lift the measure at once when the check passes.": "向下令采取该措施的部门（%(issuer)s）投诉。根据《反电信网络诈骗法》第三十一条、第三十二条，该部门应当受理并核查申诉，核查通过的应当即时解除措施。",
    "Go to court: you can bring the decision before a people's court.": "向法院起诉：您可以就该决定向人民法院提起诉讼。",
    "Your data stays yours: you can export it at any time from your case page.": "您的数据仍归您所有：您可以随时在案件页面导出。",
    "Sign in to your case": "登录您的案件",
    "Phone bound to the account": "账号绑定的手机",
    "We send a 6-digit code to this phone. It is valid for 10 minutes.": "我们会向该手机发送6位验证码，10分钟内有效。",
    "Not your phone any more, or a different case?": "已不再使用这个手机，或是另一个案件？",
    "Enter your case number and phone number": "输入案件编号和手机号码",
    "We have sent a 6-digit code to %(phone)s. It is valid for 10 minutes.": "我们已向%(phone)s发送6位验证码，10分钟内有效。",
    "You can try again in %(minutes)s minutes, from %(when)s (Beijing time).": "请在%(minutes)s分钟后，即%(when)s（北京时间）起重试。",
}


#: the English of the words pages take from the database (states, measures): never
#: shown raw ("queued")
EN: dict[str, str] = {
    "suspend": "suspended",
    "restrict": "restricted",
    "monitor": "under observation",
    "lifted": "lifted",
    "active": "in force",
    "appealed": "appeal being handled",
    "upheld": "upheld",
    "downgraded": "reduced",
    "expired": "ended",
    "proposed": "not in force",
    "received": "received, being re-checked automatically",
    "queued": "not lifted by the re-check: waiting for a reviewer's decision",
    "granted": "appeal granted, measure lifted",
}


def normalize(lang: str | None) -> str:
    if not lang:
        return DEFAULT_LANG
    lowered = lang.strip().lower()
    if lowered.startswith("en"):
        return "en"
    return DEFAULT_LANG


def gettext(lang: str) -> Callable[[str], str]:
    """``_`` for ``lang``: Chinese from :data:`ZH` (the English itself where missing)."""
    if normalize(lang) == "en":
        return lambda s: EN.get(s, s)
    return lambda s: ZH.get(s, s)
