#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Deterministic synthetic ticket corpus generator for sevtriage.

Standard library only. The label of every generated ticket is the severity of
its core problem statement (pools_p1..pools_p4); every other sentence attached
to the ticket (impact, workaround, context, noise) is drawn from pools that are
consistent with that severity.

Examples
--------
    python data/tools/generate_corpus.py --n 1600 --seed 101 --split train --out data/train.jsonl
    python data/tools/generate_corpus.py --n 400 --seed 202 --split test --out data/test.jsonl
    python data/tools/generate_corpus.py --n 100000 --seed 7 --long-tail --out /tmp/bench.jsonl

Splitting: core statements are grouped into concepts (one English and one
Spanish paraphrase of the same situation). Concepts are assigned to train or
test (about 80/20 per severity) by a fixed hash, before any ticket is
generated, so a test ticket never shares its core statement (in either
language) with a train ticket.
"""

import argparse
import hashlib
import json
import os
import random
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pools_p1 import P1  # noqa: E402
from pools_p2 import P2  # noqa: E402
from pools_p3 import P3  # noqa: E402
from pools_p4 import P4  # noqa: E402

SEVERITIES = ("P1", "P2", "P3", "P4")
DEFAULT_WEIGHTS = (0.20, 0.25, 0.30, 0.25)
SPLIT_SALT = "sevtriage-split-v1"
TEST_FRACTION = 0.20
MAX_BODY = 5000

# --------------------------------------------------------------------------
# Core statements
# --------------------------------------------------------------------------


def load_concepts():
    """Return the list of concepts: dicts with cid, sev, area, kind, en, es."""
    out = []
    for sev, pool in zip(SEVERITIES, (P1, P2, P3, P4)):
        for i, (area, en, es) in enumerate(pool):
            kind = "issue"
            if ":" in area:
                area, kind = area.split(":", 1)
            out.append({"cid": "%s-%03d" % (sev, i + 1), "sev": sev,
                        "area": area, "kind": kind, "en": en, "es": es})
    return out


def split_of_concepts(concepts):
    """Map cid -> 'train'/'test'. Stratified by severity, hash-ordered."""
    res = {}
    for sev in SEVERITIES:
        cids = [c["cid"] for c in concepts if c["sev"] == sev]
        cids.sort(key=lambda x: hashlib.sha1(
            ("%s:%s" % (SPLIT_SALT, x)).encode()).hexdigest())
        n_test = int(round(len(cids) * TEST_FRACTION))
        for j, cid in enumerate(cids):
            res[cid] = "test" if j < n_test else "train"
    return res


# --------------------------------------------------------------------------
# Surrounding content pools
# --------------------------------------------------------------------------

ZONES = {
    "es": [("America/Mexico_City", "MX", "-06:00", 5), ("Europe/Madrid", "ES", "+01:00", 3),
           ("America/Bogota", "CO", "-05:00", 3), ("America/Santiago", "CL", "-03:00", 2),
           ("America/Lima", "PE", "-05:00", 2), ("America/Argentina/Buenos_Aires", "AR", "-03:00", 2)],
    "en": [("America/New_York", "US", "-05:00", 4), ("Europe/London", "GB", "+00:00", 3),
           ("Asia/Kolkata", "IN", "+05:30", 3), ("America/Los_Angeles", "US", "-08:00", 2),
           ("Asia/Singapore", "SG", "+08:00", 1), ("Europe/Dublin", "IE", "+00:00", 1),
           ("America/Toronto", "CA", "-05:00", 1)],
}
TLD = {"MX": ".com.mx", "ES": ".es", "CO": ".com.co", "CL": ".cl", "PE": ".pe", "AR": ".com.ar",
       "US": ".com", "GB": ".co.uk", "IN": ".in", "SG": ".sg", "IE": ".ie", "CA": ".ca"}

NAMES = {
    "es": ["María José Pérez", "Juan Carlos Rodríguez", "Lucía Fernández", "Andrés Gómez",
           "Valentina Rojas", "Diego Martínez", "Camila Herrera", "Javier Soto", "Paola Castillo",
           "Sebastián Morales", "Ana Lucía Vargas", "Jorge Ramírez", "Daniela Ortiz", "Felipe Navarro",
           "Carolina Muñoz", "Ricardo Salazar", "Gabriela Núñez", "Martín Aguirre", "Sofía Cárdenas",
           "Tomás Villalobos", "Renata Espinoza", "Luis Miguel Pacheco", "Natalia Ibáñez", "Óscar Fuentes"],
    "en": ["Sarah Mitchell", "Rahul Sharma", "Priya Nair", "James O'Connor", "Emily Carter",
           "Daniel Brooks", "Aisha Khan", "Tom Henderson", "Olivia Bennett", "Arjun Mehta", "Grace Liu",
           "Michael Reyes", "Hannah Walsh", "Vikram Iyer", "Chloe Adams", "Nathan Price", "Sanjana Rao",
           "Liam Murphy", "Rebecca Stone", "Kevin Tan", "Megan Clarke", "Rohit Kapoor", "Laura Kim",
           "Ben Fletcher"],
}
COMPANIES = {
    "es": ["Farmacias Del Valle", "Ópticas Luna", "Mueblería Ramírez", "Clínica San Rafael",
           "Logística Andina", "Seguros Pacífico Sur", "Tienda Mía", "Inmobiliaria Costa Azul",
           "Escuela Nova", "Pastelería La Espiga", "Autos del Norte", "Viajes Sol y Mar",
           "Ferretería El Tornillo", "Dental Sonrisa", "Moda Urbana", "Gimnasios Fuerza",
           "Cafetería Aroma", "Financiera Progreso", "Hotel Mirador", "Librería Páginas"],
    "en": ["Brightcart", "Northwind Retail", "Kestrel Logistics", "Bluepeak Dental",
           "UrbanNest Realty", "Lumen Pharmacy", "Tandoor Express", "Harbor Insurance", "Maple & Co",
           "FitHub Gyms", "Zenith Motors", "Cedar Clinic", "Skyline Travel", "Greenleaf Grocers",
           "Orbit Electronics", "Pinecrest Academy", "Saffron Foods", "Atlas Movers",
           "Coral Bay Hotels", "Quill Books"],
}
FEMALE = {"María José", "Lucía", "Valentina", "Camila", "Paola", "Ana Lucía", "Daniela", "Carolina",
          "Gabriela", "Sofía", "Renata", "Natalia", "Sarah", "Priya", "Emily", "Aisha", "Olivia", "Grace",
          "Hannah", "Chloe", "Sanjana", "Rebecca", "Megan", "Laura"}
ROLES_ES_G = [("Jefe de Atención al Cliente", "Jefa de Atención al Cliente"),
              ("Coordinador de Soporte", "Coordinadora de Soporte"),
              ("Gerente de Operaciones", "Gerente de Operaciones"),
              ("Administrador de la cuenta", "Administradora de la cuenta"),
              ("Líder de Ventas", "Líder de Ventas"), ("Encargado de Marketing", "Encargada de Marketing"),
              ("Supervisor de turno", "Supervisora de turno"), ("IT", "IT"), ("Dueño", "Dueña"),
              ("Analista de CRM", "Analista de CRM")]
ROLES = {
    "es": [],
    "en": ["Customer Service Lead", "Support Manager", "Head of Operations", "Account admin",
           "Sales Team Lead", "Marketing Manager", "Shift Supervisor", "IT", "Founder", "CRM Analyst"],
}

OPENERS = {
    "en": ["Hi,", "Hello,", "Hi team,", "Hello support,", "Hi there,", "Good morning,", "Good afternoon,",
           "Dear support team,", "Hey,", "Hi guys,", "Hello team,", "Hi support team,", "Dear Sir/Madam,",
           "Morning,", "Hey support,"],
    "es": ["Hola,", "Hola equipo,", "Buenos días,", "Buenas tardes,", "Buen día,", "Estimados,",
           "Hola, qué tal?", "Hola chicos,", "Estimado equipo de soporte:", "Qué tal,", "Buenas,",
           "Hola soporte,", "Buenas noches,", "Estimados señores:", "Hola, buen día."],
}

# Company background: safe for any severity.
CONTEXT_GENERIC = {
    "en": ["We're a team of {k} agents handling customer service for {company}.",
           "I'm the admin of our account.", "We've been customers for about two years.",
           "I'm writing on behalf of our operations team.", "Our account is under {company}.",
           "We're on the {plan_h} plan with {nnum} WhatsApp numbers.",
           "We use the platform mainly for sales and after-sales support.",
           "We run {k} stores and all customer contact goes through WhatsApp.",
           "I manage the WhatsApp channel for our company.",
           "We moved to your platform earlier this year from another provider.",
           "Our team works in two shifts, 8am to 10pm.", "We're a small team of {k} people.",
           "We're an agency and manage several client accounts with you.",
           "I'm new to the platform, took over from a colleague last month."],
    "es": ["Somos un equipo de {k} agentes que atiende a los clientes de {company}.",
           "Soy {el_la} {admin} de la cuenta.",
           "Somos clientes desde hace un par de años.",
           "Les escribo de parte del equipo de operaciones.", "La cuenta está a nombre de {company}.",
           "Tenemos el plan {plan_h} con {nnum} números de WhatsApp.",
           "Usamos la plataforma sobre todo para ventas y postventa.",
           "Tenemos {k} sucursales y todo el contacto con clientes pasa por WhatsApp.",
           "Yo manejo el canal de WhatsApp de la empresa.",
           "Nos cambiamos a su plataforma este año desde otro proveedor.",
           "Trabajamos en dos turnos, de 8 a 22 hs.", "Somos un equipo chico, {k} personas.",
           "Somos una agencia y manejamos varias cuentas de clientes con ustedes.",
           "Soy {nuevo} en la plataforma, tomé la cuenta de un compañero el mes pasado."],
}
# Context about an ongoing issue: only for P1-P3 and P4 minor bugs.
CONTEXT_ISSUE = {
    "en": ["We noticed it around {hh}:{mm} local time.", "I already cleared the cache and tried another browser.",
           "It started after your update, I think.", "We haven't changed anything in our configuration.",
           "Several people on the team confirmed the same thing.", "I attached a couple of screenshots.",
           "Not sure if this is on our side or yours.", "This began yesterday afternoon.",
           "We tried from the office network and from home, same result.",
           "I checked your status page and it doesn't mention anything."],
    "es": ["Lo notamos cerca de las {hh}:{mm} hora local.", "Ya borré la caché y probé con otro navegador.",
           "Creo que empezó después de su actualización.", "No cambiamos nada en la configuración.",
           "Varias personas del equipo confirmaron lo mismo.", "Adjunto un par de capturas.",
           "No sé si es algo de nuestro lado o del suyo.", "Empezó ayer por la tarde.",
           "Probamos desde la red de la oficina y desde la casa, mismo resultado.",
           "Revisé la página de estado y no dice nada."],
}

IMPACT = {
    "P1": {
        "en": ["Right now we can't serve a single customer.", "Every minute this lasts we're losing orders.",
               "The whole company is stopped.", "Our entire operation depends on this.",
               "This affects all our agents and all our numbers.",
               "We have customers waiting and no way to answer them.",
               "Management is asking me for an ETA every ten minutes.",
               "We have customers lining up at the stores asking why nobody answers.",
               "It's the busiest day of our month and everything is blocked.",
               "We're a 24/7 operation and nothing is moving."],
        "es": ["Ahora mismo no podemos atender a ningún cliente.", "Cada minuto que pasa perdemos pedidos.",
               "La empresa entera está parada.", "Toda nuestra operación depende de esto.",
               "Afecta a todos los agentes y a todos los números.",
               "Tenemos clientes esperando y ninguna forma de responderles.",
               "La gerencia me pide novedades cada diez minutos.",
               "Los clientes están llamando a las sucursales preguntando por qué nadie contesta.",
               "Es el día de más movimiento del mes y está todo bloqueado.",
               "Operamos 24/7 y no se mueve nada."],
    },
    "P2": {
        "en": ["The team keeps working, but at a fraction of the usual pace.",
               "We're getting by, but customers are noticing the delays.",
               "Our response times are way up because of this.", "We can operate, but with serious limitations.",
               "Supervisors are spending the day firefighting around this.",
               "It's hurting our service levels badly.",
               "We're still open for business, just much less efficiently.",
               "Customers are starting to complain on social media."],
        "es": ["El equipo sigue trabajando, pero a una fracción del ritmo normal.",
               "Vamos saliendo, pero los clientes notan las demoras.",
               "Los tiempos de respuesta se nos dispararon por esto.",
               "Podemos operar, pero con limitaciones serias.",
               "Los supervisores se pasan el día apagando incendios por esto.",
               "Está afectando mucho nuestro nivel de servicio.",
               "Seguimos atendiendo, solo que mucho menos eficiente.",
               "Los clientes ya se empiezan a quejar en redes."],
    },
    "P3": {
        "en": ["It's not blocking us, but it's annoying.", "The rest of the platform works fine.",
               "Impact is limited, but we'd like it fixed.", "It only affects part of the team.",
               "Not critical, but it would be good to get it sorted this week.",
               "It's not urgent, but it's been going on for a few days.",
               "We can keep working, it's just extra effort."],
        "es": ["No nos bloquea, pero es molesto.", "El resto de la plataforma funciona bien.",
               "El impacto es acotado, pero nos gustaría que se arregle.",
               "Solo afecta a una parte del equipo.",
               "No es crítico, pero estaría bien resolverlo esta semana.",
               "No es urgente, pero ya lleva unos días así.",
               "Podemos seguir trabajando, solo que con trabajo extra."],
    },
    "P4": {
        "en": ["No rush at all.", "Whenever you have a moment.", "Not urgent.", "Just curious.",
               "Thanks in advance, no hurry.", "Not a big deal.", "Low priority on our side."],
        "es": ["Sin apuro.", "Cuando puedan.", "No es urgente.", "Es solo curiosidad.",
               "Gracias de antemano, sin prisa.", "No es nada grave.", "Para nosotros es baja prioridad."],
    },
}

WORKAROUND = {
    "P1": {
        "en": ["There's no workaround, we've tried everything.",
               "We tried other browsers, other computers and the mobile app: same thing.",
               "We have no alternative channel to reach our customers.",
               "Logging out and in, clearing the cache, a different network: nothing helps.",
               "We don't have any way around this on our side."],
        "es": ["No hay solución alternativa, ya probamos de todo.",
               "Probamos otros navegadores, otras computadoras y la app: lo mismo.",
               "No tenemos otro canal para llegar a los clientes.",
               "Cerrar sesión, borrar caché, otra red: nada funciona.",
               "No tenemos forma de esquivar esto de nuestro lado."],
    },
    "P2": {
        "en": ["We have a workaround, but it doesn't fully solve it.",
               "The workaround keeps us afloat, but it won't last the week.",
               "We're managing by hand meanwhile, but it isn't sustainable.",
               "Our stopgap covers maybe half of the volume.",
               "It's a patch, not a solution."],
        "es": ["Tenemos una solución provisoria, pero no lo resuelve del todo.",
               "El parche nos mantiene a flote, pero no aguanta toda la semana.",
               "Mientras tanto lo hacemos a mano, pero no es sostenible.",
               "Lo provisorio cubre quizás la mitad del volumen.",
               "Es un parche, no una solución."],
    },
    "P3": {
        "en": ["We can live with the workaround for now.", "We have a workaround for the moment.",
               "Handling it by hand is fine for a few days.",
               "The workaround works, it just doesn't scale."],
        "es": ["Por ahora podemos vivir con la solución alternativa.", "De momento tenemos cómo resolverlo.",
               "Hacerlo a mano está bien por unos días.",
               "La alternativa funciona, solo que no escala."],
    },
    "P4": {
        "en": ["We can live with it.", "It isn't blocking anything."],
        "es": ["Podemos vivir con eso.", "No bloquea nada."],
    },
}

FOLLOWUPS = {
    "en": ["Following up on my previous message.", "Any update on this?", "Adding more info below.",
           "Replying with the details you asked for."],
    "es": ["Sigo esperando respuesta sobre esto.", "¿Alguna novedad?", "Agrego más info abajo.",
           "Les respondo con los datos que pidieron."],
}
SUPPORT_ASKS = {
    "en": ["Hi {first}, thanks for reaching out. Could you send us a screenshot and the approximate time this happened?",
           "Hello {first}, thank you for contacting us. Can you confirm the account ID and the number affected?",
           "Hi {first}, we're looking into this. Could you tell us which browser and version your team uses?",
           "Thanks {first}. To help us investigate, please share an example conversation or message ID."],
    "es": ["Hola {first}, gracias por escribirnos. ¿Nos podrías enviar una captura y la hora aproximada en que pasó?",
           "Hola {first}, gracias por contactarnos. ¿Nos confirmás el ID de la cuenta y el número afectado?",
           "Hola {first}, lo estamos revisando. ¿Qué navegador y versión usa el equipo?",
           "Gracias {first}. Para investigar, compártenos un ejemplo de conversación o el ID del mensaje."],
}
CLOSERS = {
    "en": ["Thanks,", "Thanks in advance,", "Regards,", "Best regards,", "Best,", "Cheers,", "Thank you!",
           "Kind regards,", "Many thanks,", "Thx,", "Appreciate your help,"],
    "es": ["Gracias,", "Saludos,", "Saludos cordiales,", "Quedo {atento},", "Mil gracias!",
           "Un saludo,", "Muchas gracias de antemano.", "Atte.", "Gracias!!", "Slds,"],
}
ASKS_NEEDINFO = {
    "en": ["Let me know if you need more info.", "Please advise.", "Happy to jump on a call.",
           "Let me know if you need access to our account."],
    "es": ["Cualquier cosa me avisan.", "Quedo a la espera.", "Si necesitan más datos me dicen.",
           "Podemos hacer una llamada si hace falta."],
}
CALL_ME = {
    "en": ["Please call me at {phone}.", "You can reach me on {phone} any time today."],
    "es": ["Por favor llámenme al {phone}.", "Me pueden llamar al {phone} a cualquier hora."],
}
SHOUT_SUBJECT = {
    "en": ["URGENT!!! ", "URGENT: ", "ASAP - ", "HELP!!! ", "CRITICAL - ", "!!! "],
    "es": ["URGENTE!!! ", "¡¡URGENTE!! ", "URGENTE: ", "AYUDA!!! ", "CRITICO - ", "!!! "],
}
SHOUT_BODY = {
    "en": ["PLEASE ANSWER ASAP!!!", "THIS IS URGENT!!", "NEED HELP NOW PLEASE!!!", "PLEASE PRIORITIZE THIS!!"],
    "es": ["NECESITO RESPUESTA YA!!!", "ES URGENTE!!", "¡¡POR FAVOR RESPONDAN RÁPIDO!!", "PRIORIDAD MÁXIMA POR FAVOR!!"],
}
NOT_URGENT = {"en": ["Not urgent.", "This is not urgent.", "No rush."],
              "es": ["No es urgente.", "No es nada urgente.", "Sin apuro."]}
HEDGE_PREFIX = {"en": ["I think ", "I believe ", "Looks like "], "es": ["Creo que ", "Me parece que ", "Al parecer "]}

EMOJI = {"P1": ["😡", "😩", "🙏", "⚠️", "😰", "🆘"], "P2": ["😩", "🙏", "😕", "😤", "⚠️"],
         "P3": ["🙏", "😅", "🙂", "🤔", "😕"], "P4": ["🙏", "😅", "🙂", "👍", "😊", "🤔", "🙌"]}

AREA_LABEL = {
    "en": {"platform": "Platform", "inbox": "Inbox", "broadcast": "Broadcasts", "templates": "Templates",
           "bots": "Chatbots / Flows", "api": "API & Webhooks", "integrations": "Integrations",
           "contacts": "Contacts", "billing": "Billing", "onboarding": "Onboarding", "users": "Users & roles",
           "analytics": "Reports", "mobile": "Mobile app", "training": "Training"},
    "es": {"platform": "Plataforma", "inbox": "Bandeja", "broadcast": "Difusiones", "templates": "Plantillas",
           "bots": "Chatbots / Flujos", "api": "API y Webhooks", "integrations": "Integraciones",
           "contacts": "Contactos", "billing": "Facturación", "onboarding": "Alta / Onboarding",
           "users": "Usuarios y roles", "analytics": "Reportes", "mobile": "App móvil",
           "training": "Capacitación"},
}
AREA_SUBJECTS = {
    "en": {"platform": ["Problem with the platform", "Platform issue", "Can't work", "Account problem"],
           "inbox": ["Inbox issue", "Problem with the inbox", "Shared inbox", "Chats", "Conversations"],
           "broadcast": ["Broadcast problem", "Campaigns", "Question about broadcasts", "Campaign sending"],
           "templates": ["Templates", "Template issue", "Message templates", "Template approval"],
           "bots": ["Chatbot", "Flow builder", "Bot issue", "Question about flows"],
           "api": ["API", "Webhooks", "API question", "API / webhook issue"],
           "integrations": ["Integration issue", "Integrations", "Sync problem", "Question about integrations"],
           "contacts": ["Contacts", "Contact import", "Contacts export", "Contact list"],
           "billing": ["Billing", "Invoice", "Billing question", "Payment"],
           "onboarding": ["Onboarding", "Setup", "Getting started", "Number migration"],
           "users": ["Users", "Roles and permissions", "Agent access", "User management"],
           "analytics": ["Reports", "Analytics", "Report question", "Dashboard numbers"],
           "mobile": ["Mobile app", "App issue", "iOS/Android app", "Mobile"],
           "training": ["Training", "Training request", "Onboarding for new agents"]},
    "es": {"platform": ["Problema con la plataforma", "No podemos trabajar", "Problema con la cuenta", "Plataforma"],
           "inbox": ["Problema con la bandeja", "Bandeja compartida", "Chats", "Conversaciones", "Inbox"],
           "broadcast": ["Problema con difusiones", "Campañas", "Consulta sobre difusiones", "Envío de campaña"],
           "templates": ["Plantillas", "Problema con plantillas", "Aprobación de plantillas", "Templates"],
           "bots": ["Chatbot", "Constructor de flujos", "Problema con el bot", "Consulta sobre flujos"],
           "api": ["API", "Webhooks", "Consulta API", "Problema API / webhooks"],
           "integrations": ["Integraciones", "Problema con la integración", "Sincronización", "Consulta integraciones"],
           "contacts": ["Contactos", "Importación de contactos", "Exportar contactos", "Lista de contactos"],
           "billing": ["Facturación", "Factura", "Consulta de facturación", "Pago"],
           "onboarding": ["Alta", "Configuración inicial", "Migración de número", "Onboarding"],
           "users": ["Usuarios", "Roles y permisos", "Acceso de agentes", "Gestión de usuarios"],
           "analytics": ["Reportes", "Analítica", "Consulta reportes", "Números del tablero"],
           "mobile": ["App móvil", "Problema con la app", "App iOS/Android", "Celular"],
           "training": ["Capacitación", "Solicitud de capacitación", "Capacitación agentes nuevos"]},
}
GENERIC_SUBJECTS = {"en": ["Help", "Question", "Support request", "Issue", "Need help", "(no subject)", "Hello"],
                    "es": ["Ayuda", "Consulta", "Solicitud de soporte", "Problema", "Necesito ayuda",
                           "(sin asunto)", "Hola"]}

DISCLAIMER = {
    "en": ("CONFIDENTIALITY NOTICE: This e-mail message, including any attachments, is for the sole use of "
           "the intended recipient(s) and may contain confidential and privileged information. Any unauthorized "
           "review, use, disclosure or distribution is prohibited. If you are not the intended recipient, please "
           "contact the sender by reply e-mail and destroy all copies of the original message. Please consider "
           "the environment before printing this e-mail."),
    "es": ("AVISO DE CONFIDENCIALIDAD: Este mensaje y sus anexos son para uso exclusivo de su destinatario y "
           "pueden contener información confidencial o protegida por ley. Si usted no es el destinatario, queda "
           "notificado de que cualquier uso, divulgación, distribución o copia de esta comunicación está "
           "prohibida. Si recibió este mensaje por error, por favor notifíquelo al remitente y elimínelo de su "
           "sistema. Antes de imprimir este correo piense en el medio ambiente."),
}
LONG_CONTEXT = {
    "en": ["To give you some background, {company} has been growing quite a bit this year and most of our customer "
           "conversations now happen on WhatsApp rather than phone or email.",
           "Our agents are split between the head office and people working from home, and we use teams in the "
           "inbox to separate sales, after-sales and billing questions.",
           "We connected the Shopify store and HubSpot during onboarding, and later added a couple of Zapier zaps "
           "that our IT person built.",
           "We also have a few flows in the chatbot for FAQs, opening hours and order tracking, and we send "
           "broadcasts about twice a month.",
           "Most of our customers are on mobile and expect an answer within minutes, so the team is used to "
           "working with quick replies and labels.",
           "I'm including as much detail as I can so you don't need to come back with questions, sorry for the long email."],
    "es": ["Para darles contexto, {company} creció bastante este año y la mayoría de las conversaciones con "
           "clientes ahora pasan por WhatsApp y no por teléfono o correo.",
           "Los agentes están repartidos entre la oficina central y gente que trabaja desde su casa, y usamos "
           "equipos en la bandeja para separar ventas, postventa y cobranzas.",
           "Conectamos la tienda de Shopify y HubSpot durante el alta, y después agregamos un par de zaps en "
           "Zapier que armó nuestra persona de sistemas.",
           "También tenemos algunos flujos en el bot para preguntas frecuentes, horarios y seguimiento de pedidos, "
           "y mandamos difusiones unas dos veces por mes.",
           "Casi todos nuestros clientes escriben desde el celular y esperan respuesta en minutos, así que el "
           "equipo está acostumbrado a trabajar con respuestas rápidas y etiquetas.",
           "Pongo todo el detalle que puedo para que no tengan que volver a preguntar, perdón por el correo tan largo."],
}
ENV_LABELS = {"en": ("Browser", "Account ID", "User", "Agents on shift", "Numbers"),
              "es": ("Navegador", "ID de cuenta", "Usuario", "Agentes en turno", "Números")}
BROWSERS = ["Chrome 131 / Windows 11", "Chrome 130 / macOS 14.6", "Edge 131 / Windows 10",
            "Firefox 132 / Ubuntu 24.04", "Safari 18.1 / macOS 15", "Chrome 131 / Android 14"]
LOG_PATHS = ["/api/v2/conversations", "/api/v2/contacts", "/api/v2/messages", "/api/v2/templates",
             "/api/v2/broadcasts", "/api/v2/flows", "/api/v2/reports/summary", "/api/v2/users/me"]

SPANGLISH = [("la bandeja", "el inbox"), ("las plantillas", "los templates"), ("la plantilla", "el template"),
             ("el panel", "el dashboard"), ("las difusiones", "los broadcasts"), ("la difusión", "el broadcast"),
             ("por favor", "please"), ("reportes", "reports"), ("etiquetas", "tags"), ("flujos", "flows")]

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def strip_accents(s, keep_enye):
    out = []
    for ch in s:
        if keep_enye and ch in "ñÑ":
            out.append(ch)
            continue
        d = unicodedata.normalize("NFD", ch)
        out.append("".join(c for c in d if unicodedata.category(c) != "Mn"))
    return "".join(out)


def ascii_slug(s):
    s = strip_accents(s, False).lower()
    return "".join(c for c in s if c.isalnum())


def add_typos(rng, text, n):
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    rng.shuffle(idx)
    for i in idx[:n]:
        w = words[i]
        op = rng.randrange(3)
        j = rng.randrange(1, len(w) - 1)
        if op == 0:
            w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        elif op == 1:
            w = w[:j] + w[j + 1:]
        else:
            w = w[:j] + w[j] + w[j:]
        words[i] = w
    return " ".join(words)


def hedge(rng, lang, text):
    first = text.split(" ", 1)[0]
    if (text[:1] in "¿¡'\"(" or "?" in text[:80] or first.isupper() or ":" in text[:20]
            or len(first) > 1 and first[1:2].isupper()
            or first in ("Shopify", "HubSpot", "Salesforce", "Zapier", "Meta", "Android", "Okta",
                         "Webhooks", "Webhook", "GET", "SSO", "Our", "Nuestro", "Nuestra")):
        return text
    return rng.choice(HEDGE_PREFIX[lang]) + text[0].lower() + text[1:]


def pick_weighted(rng, items):
    total = sum(w for *_, w in items)
    r = rng.uniform(0, total)
    acc = 0
    for it in items:
        acc += it[-1]
        if r <= acc:
            return it
    return items[-1]


def fmt_phone(rng, country):
    codes = {"MX": "+52 55", "ES": "+34 6", "CO": "+57 3", "CL": "+56 9", "PE": "+51 9", "AR": "+54 9 11",
             "US": "+1 212", "GB": "+44 7", "IN": "+91 9", "SG": "+65 8", "IE": "+353 8", "CA": "+1 416"}
    return "%s %04d %04d" % (codes[country], rng.randrange(10000), rng.randrange(10000))


# --------------------------------------------------------------------------
# Ticket assembly
# --------------------------------------------------------------------------


class Ctx(object):
    pass


def make_person(rng, lang):
    c = Ctx()
    c.lang = lang
    # a few tickets are written in the other language's region (e.g. a Mexican
    # company writing in English, a US company writing in Spanish)
    zone_lang = lang
    if rng.random() < 0.08:
        zone_lang = "es" if lang == "en" else "en"
    c.zone, c.country, c.offset, _ = pick_weighted(rng, ZONES[zone_lang])
    name_lang = zone_lang if rng.random() < 0.7 else lang
    c.name = rng.choice(NAMES[name_lang])
    c.first = c.name.split(" ")[0]
    c.company = rng.choice(COMPANIES[zone_lang])
    c.female = c.first in FEMALE
    if rng.random() < 0.5:
        c.role = (rng.choice(ROLES_ES_G)[1 if c.female else 0] if lang == "es" else rng.choice(ROLES["en"]))
    else:
        c.role = None
    domain = ascii_slug(c.company) + TLD[c.country]
    parts = [ascii_slug(p) for p in c.name.replace("'", "").split(" ")]
    r = rng.random()
    if r < 0.55:
        local = parts[0] + "." + parts[-1]
    elif r < 0.75:
        local = parts[0][0] + parts[-1]
    elif r < 0.88:
        local = rng.choice(["soporte", "admin", "ops", "atencion", "ventas"] if zone_lang == "es"
                           else ["support", "admin", "ops", "cs", "sales"])
    else:
        local = parts[0] + "." + parts[-1] + str(rng.randrange(10, 99))
        domain = rng.choice(["gmail.com", "hotmail.com", "outlook.com", "yahoo.com"])
    c.email = local + "@" + domain
    c.phone = fmt_phone(rng, c.country)
    c.plan = "business_plus" if rng.random() < 0.75 else "pro"
    c.speaks_other = zone_lang != lang
    return c


def created_at(rng, person, sev):
    day = rng.randrange(2, 31)
    if sev == "P1" and rng.random() < 0.25:
        hour = rng.randrange(0, 24)
    else:
        hour = int(min(22, max(6, rng.gauss(12.5, 3.2))))
    return day, hour, rng.randrange(60), rng.randrange(60)


WD = {"en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
      "es": ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"]}


def weekday(lang, day):
    # 2026-11-01 is a Sunday (index 6)
    return WD[lang][(6 + day - 1) % 7]


def iso(day, h, m, s, offset):
    return "2026-11-%02dT%02d:%02d:%02d%s" % (day, h, m, s, offset)


def signature(rng, c, lang, plain_name_only=False):
    lines = [c.name if rng.random() < 0.75 else c.first]
    if not plain_name_only:
        if c.role and rng.random() < 0.7:
            lines.append(c.role)
        if rng.random() < 0.6:
            lines.append(c.company)
        if rng.random() < 0.2:
            lines.append(("Tel: " if lang == "es" else "Phone: ") + c.phone)
    return lines


def build_subject(rng, c, concept, lang, sev, core_text, quoted):
    area = concept["area"]
    r = rng.random()
    if r < 0.30:
        first = core_text.split(". ")[0].split("? ")[0].strip().rstrip(".")
        subj = first if len(first) <= 60 else first[:57].rsplit(" ", 1)[0] + "..."
    elif r < 0.85:
        subj = rng.choice(AREA_SUBJECTS[lang][area])
    else:
        subj = rng.choice(GENERIC_SUBJECTS[lang])
    shout_p = {"P1": 0.12, "P2": 0.12, "P3": 0.14, "P4": 0.16}[sev]
    if rng.random() < shout_p:
        subj = rng.choice(SHOUT_SUBJECT[lang]) + subj
        if rng.random() < 0.3:
            subj = subj.upper()
    if quoted:
        subj = "Re: " + subj if lang == "en" or rng.random() < 0.5 else "RE: " + subj
    return subj


def fill(rng, s, c):
    return s.format(company=c.company, k=rng.choice([4, 6, 8, 12, 15, 20, 25, 30, 40, 60]),
                    plan_h="Business Plus" if c.plan == "business_plus" else "Pro",
                    nnum=rng.choice([1, 2, 3, 4, 5]), hh="%02d" % rng.randrange(7, 19),
                    mm=rng.choice(["00", "10", "15", "20", "30", "40", "45", "50"]), phone=c.phone,
                    first=c.first, el_la="la" if c.female else "el",
                    admin="administradora" if c.female else "administrador",
                    nuevo="nueva" if c.female else "nuevo", atento="atenta" if c.female else "atento")


def long_filler(rng, c, lang, day, budget, technical=True):
    """Neutral (label-free) material for long-tail tickets.

    Returns (inline_blocks, log_lines, trailing_blocks): inline blocks go after
    the description (background, environment, a webhook payload), the log goes
    after them and is sized to fill the remaining budget, trailing blocks
    (previous support replies, legal disclaimer) go after the signature.
    """
    inline, trailing = [], []
    acc = "acc_%s" % hashlib.md5(c.company.encode()).hexdigest()[:10]
    if rng.random() < 0.7:
        inline.append(" ".join(fill(rng, x, c) for x in rng.sample(LONG_CONTEXT[lang], rng.randrange(2, 6))))
    if technical and rng.random() < 0.6:
        L = ENV_LABELS[lang]
        inline.append("\n".join(["%s: %s" % (L[0], rng.choice(BROWSERS)), "%s: %s" % (L[1], acc),
                                  "%s: %s" % (L[2], c.email), "%s: %d" % (L[3], rng.randrange(3, 80)),
                                  "%s: %s" % (L[4], ", ".join(fmt_phone(rng, c.country)
                                                             for _ in range(rng.randrange(1, 4))))]))
    if technical and rng.random() < 0.3:
        inline.append(json.dumps({"event": rng.choice(["message.received", "message.status", "conversation.updated"]),
                                  "account_id": acc,
                                  "message": {"id": "wamid.%032x" % rng.getrandbits(128),
                                              "from": fmt_phone(rng, c.country).replace(" ", ""),
                                              "type": "text", "timestamp": 1793000000 + rng.randrange(3000000)}},
                                 indent=2))
    for ask in rng.sample(SUPPORT_ASKS[lang], rng.randrange(0, 3)):
        ask = fill(rng, ask, c)
        pd = max(1, day - rng.randrange(1, 4))
        hdr = ("> On %s, Nov %d, 2026, Support Team <support@msgdesk.example> wrote:" % (weekday("en", pd), pd)
               if lang == "en" else
               "> El %s, %d nov 2026, Equipo de Soporte <soporte@msgdesk.example> escribió:" % (
                   weekday("es", pd), pd))
        trailing.append(hdr + "\n> " + ask + "\n>\n> " + ("Best regards," if lang == "en" else "Saludos,")
                        + "\n> " + rng.choice(["Ana", "Carlos", "Priya", "Mark", "Lucía", "Sam"]))
    if rng.random() < 0.5:
        trailing.append(DISCLAIMER[lang])
    used = sum(len(x) + 2 for x in inline + trailing)
    log_lines = []
    remaining = budget - used
    if technical and remaining > 200:
        t0 = rng.randrange(0, 20 * 3600)
        while remaining > 0:
            t0 += rng.randrange(1, 400)
            hh, rest = divmod(t0 % 86400, 3600)
            line = "2026-11-%02dT%02d:%02d:%02d.%03dZ %s %s request_id=%016x trace=%08x" % (
                day, hh, rest // 60, rest % 60, rng.randrange(1000), rng.choice(["GET", "POST", "PATCH"]),
                rng.choice(LOG_PATHS), rng.getrandbits(64), rng.getrandbits(32))
            log_lines.append(line)
            remaining -= len(line) + 1
    return inline, log_lines, trailing


def noise_profile(rng, lang):
    """Per-ticket writing habits, applied consistently to all paragraphs."""
    return {
        "strip": lang == "es" and rng.random() < 0.3,
        "keep_enye": rng.random() < 0.5,
        "no_inv": lang == "es" and rng.random() < 0.35,
        "spanglish": lang == "es" and rng.random() < 0.08,
        "typos": rng.randrange(1, 3) if rng.random() < 0.3 else 0,
        "lower": rng.random() < 0.04,
    }


def apply_noise(rng, text, prof):
    if prof["strip"]:
        text = strip_accents(text, keep_enye=prof["keep_enye"])
    if prof["no_inv"]:
        text = text.replace("¿", "").replace("¡", "")
    if prof["spanglish"]:
        for a, b in SPANGLISH:
            text = text.replace(a, b)
            text = text.replace(a[0].upper() + a[1:], b[0].upper() + b[1:])
    if prof["lower"]:
        text = text.lower()
    return text


def build_ticket(rng, concept, lang, seed, index, long_frac):
    sev = concept["sev"]
    c = make_person(rng, lang)
    core = concept[lang]
    day, h, m, s = created_at(rng, c, sev)
    channel = rng.choices(["email", "widget", "api"], weights=[0.55, 0.30, 0.15])[0]
    is_long = rng.random() < long_frac
    if is_long:
        channel = "email"
    quoted = channel == "email" and rng.random() < (0.35 if is_long else 0.12)

    kind = concept["kind"]
    issue_like = sev != "P4" or kind == "bug"

    core_txt = core
    if issue_like and rng.random() < 0.12:
        core_txt = hedge(rng, lang, core_txt)
    if rng.random() < 0.03 and sev in ("P3", "P4"):
        core_txt = core_txt.upper()

    body_sents = []
    cues = []
    if quoted:
        body_sents.append(rng.choice(FOLLOWUPS[lang]))
    ctx_n = 0
    if channel == "email":
        ctx_n = rng.choice([0, 0, 1, 1, 2])
    elif channel == "widget":
        ctx_n = rng.choice([0, 0, 0, 1])
    pool = list(CONTEXT_GENERIC[lang]) + (list(CONTEXT_ISSUE[lang]) if issue_like else [])
    for sent in rng.sample(pool, ctx_n):
        body_sents.append(fill(rng, sent, c))
    body_sents.append(core_txt)
    p_imp = {"P1": 0.55, "P2": 0.5, "P3": 0.4, "P4": 0.35}[sev]
    if channel == "widget":
        p_imp *= 0.5
    if rng.random() < p_imp:
        imp = IMPACT[sev][lang]
        if sev == "P4" and kind != "q":
            imp = [x for x in imp if "curio" not in x]
        body_sents.append(rng.choice(imp))
        cues.append("impact")
    if issue_like and rng.random() < {"P1": 0.45, "P2": 0.4, "P3": 0.35, "P4": 0.3}[sev] * (
            0.6 if channel == "widget" else 1):
        body_sents.append(rng.choice(WORKAROUND[sev][lang]))
        cues.append("workaround")
    if sev in ("P3", "P4") and rng.random() < 0.06:
        body_sents.append(rng.choice(NOT_URGENT[lang]))
        cues.append("not_urgent")
    if rng.random() < {"P1": 0.06, "P2": 0.06, "P3": 0.07, "P4": 0.08}[sev]:
        body_sents.append(rng.choice(SHOUT_BODY[lang]))
        cues.append("shout")
    if sev in ("P1", "P2") and channel != "api" and rng.random() < 0.2:
        body_sents.append(fill(rng, rng.choice(CALL_ME[lang]), c))
    elif channel == "email" and rng.random() < 0.3:
        body_sents.append(rng.choice(ASKS_NEEDINFO[lang]))

    # paragraphing
    paras = []
    cur = []
    for sent in body_sents:
        cur.append(sent)
        if rng.random() < 0.35:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    prof = noise_profile(rng, lang)
    paras = [apply_noise(rng, p, prof) for p in paras]
    if prof["typos"]:
        k = rng.randrange(len(paras))
        paras[k] = add_typos(rng, paras[k], prof["typos"])

    if rng.random() < 0.15:
        e = rng.choice(EMOJI[sev])
        k = rng.randrange(len(paras))
        paras[k] = paras[k] + " " + e

    opener = None
    sig_lines = []
    closer = None
    if channel == "email":
        if rng.random() < 0.85:
            opener = rng.choice(OPENERS[lang])
        if rng.random() < 0.85:
            closer_lang = lang
            if c.speaks_other and rng.random() < 0.5:
                closer_lang = "es" if lang == "en" else "en"
            closer = fill(rng, rng.choice(CLOSERS[closer_lang]), c)
        sig_lines = signature(rng, c, lang)
    elif channel == "widget":
        if rng.random() < 0.35:
            opener = rng.choice(OPENERS[lang])
        if rng.random() < 0.3:
            sig_lines = [c.first]

    inline, log_lines, trailing = [], [], []
    if is_long:
        target = int(round(10 ** rng.uniform(3.1, 3.69)))  # ~1,250 .. ~4,900 chars
        est = sum(len(p) + 2 for p in paras) + 200
        inline, log_lines, trailing = long_filler(rng, c, lang, day, max(0, target - est), technical=issue_like)
    log_hdr = "Console / network log:" if lang == "en" else "Log de consola / red:"

    if quoted:
        ask = fill(rng, rng.choice(SUPPORT_ASKS[lang]), c)
        pd = max(1, day - rng.randrange(1, 3))
        if lang == "en":
            hdr = "> On %s, Nov %d, 2026 at %d:%02d %s Support Team <support@msgdesk.example> wrote:" % (
                weekday("en", pd), pd, rng.randrange(1, 12), rng.randrange(60), rng.choice(["AM", "PM"]))
        else:
            hdr = "> El %s, %d nov 2026 a las %d:%02d, Equipo de Soporte <soporte@msgdesk.example> escribió:" % (
                weekday("es", pd), pd, rng.randrange(8, 20), rng.randrange(60))
        trailing = [hdr + "\n> " + ask] + trailing

    html = channel == "email" and not is_long and rng.random() < 0.05
    html_joined = rng.random() < 0.5

    def assemble(n_log):
        mid = list(paras) + inline
        if n_log:
            mid.append(log_hdr + "\n" + "\n".join(log_lines[:n_log]))
        if channel == "api":
            L = AREA_LABEL[lang][concept["area"]]
            head = ("Category: %s\nAccount: %s\n\nDescription:" % (L, c.company) if lang == "en" else
                    "Categoría: %s\nCuenta: %s\n\nDescripción:" % (L, c.company))
            return head + "\n" + "\n\n".join(mid)
        tail = ([closer] if closer else []) + sig_lines
        if html:
            parts = (["<p>%s</p>" % opener] if opener else []) + ["<p>%s</p>" % p for p in mid]
            if tail:
                parts.append("<p>" + "<br>".join(tail) + "</p>")
            out = ("" if html_joined else "\n").join(parts)
        else:
            chunks = ([opener] if opener else []) + mid
            if tail:
                chunks.append("\n".join(tail))
            out = "\n\n".join(chunks)
        if trailing:
            out += "\n\n" + "\n\n".join(trailing)
        return out

    n_log = len(log_lines)
    body = assemble(n_log)
    while len(body) > MAX_BODY and n_log > 0:
        n_log = max(0, n_log - max(1, (len(body) - MAX_BODY) // 80))
        body = assemble(n_log)
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY].rsplit("\n", 1)[0]

    subject = build_subject(rng, c, concept, lang, sev, core, quoted)
    return {
        "id": "G-%d-%d" % (seed, index),
        "subject": subject,
        "body": body,
        "language": lang,
        "plan": c.plan,
        "created_at": iso(day, h, m, s, c.offset),
        "timezone": c.zone,
        "country": c.country,
        "channel": channel,
        "requester": c.email,
        "label": sev,
    }, {"id": "G-%d-%d" % (seed, index), "core_id": "%s-%s" % (concept["cid"], lang),
        "concept_id": concept["cid"], "area": concept["area"], "kind": kind, "long": is_long,
        "aux_cues": cues}


def generate(n, seed, split="all", long_tail=False, long_frac=0.15, weights=DEFAULT_WEIGHTS, es_ratio=0.5):
    concepts = load_concepts()
    sp = split_of_concepts(concepts)
    if split != "all":
        concepts = [c for c in concepts if sp[c["cid"]] == split]
    by_sev = {s: [c for c in concepts if c["sev"] == s] for s in SEVERITIES}
    rng = random.Random("sevtriage:%d:%s" % (seed, split))
    lf = long_frac if long_tail else 0.0
    # exact class and language quotas, then shuffled, so small corpora stay balanced
    counts = [int(n * w) for w in weights]
    i = 0
    while sum(counts) < n:
        counts[i % 4] += 1
        i += 1
    plan = []
    for s, k in zip(SEVERITIES, counts):
        n_es = int(round(k * es_ratio))
        langs = ["es"] * n_es + ["en"] * (k - n_es)
        # cycle through a shuffled pool so every core statement gets used
        order = []
        while len(order) < k:
            block = list(by_sev[s])
            rng.shuffle(block)
            order += block
        for lang, concept in zip(langs, order[:k]):
            plan.append((concept, lang))
    rng.shuffle(plan)
    for idx, (concept, lang) in enumerate(plan, 1):
        yield build_ticket(rng, concept, lang, seed, idx, lf)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True, help="number of tickets (1..100000)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True, help="output JSONL path ('-' for stdout)")
    ap.add_argument("--split", choices=["all", "train", "test"], default="all",
                    help="restrict core statements to one side of the fixed concept split")
    ap.add_argument("--long-tail", action="store_true",
                    help="make a fraction of tickets long (~1.2k-5k chars: threads, logs, disclaimers)")
    ap.add_argument("--long-frac", type=float, default=0.15, help="fraction of long tickets with --long-tail")
    ap.add_argument("--meta-out", help="optional JSONL sidecar with id, core_id, concept_id, area, kind, long, "
                                       "aux_cues (severity-consistent impact/workaround/etc. sentences attached)")
    ap.add_argument("--es-ratio", type=float, default=0.5)
    args = ap.parse_args(argv)
    if not 1 <= args.n <= 100000:
        ap.error("--n must be between 1 and 100000")
    fout = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="\n")
    fmeta = open(args.meta_out, "w", encoding="utf-8", newline="\n") if args.meta_out else None
    try:
        for t, meta in generate(args.n, args.seed, args.split, args.long_tail, args.long_frac,
                                es_ratio=args.es_ratio):
            fout.write(json.dumps(t, ensure_ascii=False) + "\n")
            if fmeta:
                fmeta.write(json.dumps(meta, ensure_ascii=False) + "\n")
    finally:
        if fout is not sys.stdout:
            fout.close()
        if fmeta:
            fmeta.close()


if __name__ == "__main__":
    main()
